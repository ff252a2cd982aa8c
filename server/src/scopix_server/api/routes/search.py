"""Search by meaning: ``/agents/search/images`` and ``/documents``, ``/files/{id}/similar``.

The hosted service answers these with a language-model agent; this server ranks with its
indexes (words and vectors, fused) and says so: ``iterations`` is 1, ``token_usage`` null, and
the summary is a plain sentence about what was found.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...db.models import File
from ...jobs.steps.variants import THUMBNAIL
from ...schemas import (
    DocumentSearchRequest,
    DocumentSearchResponse,
    ImageSearchRequest,
    ImageSearchResponse,
    SimilarFiles,
)
from ...services import files as file_service
from ...services.search import Found
from ..deps import AuthDep, SessionDep, StateDep
from ..ingest import signed_url
from ..openapi import errors

__all__ = ["router"]

router = APIRouter(tags=["search"])


def _envelope(found: Found, count: int, what: str, query: str, started: float) -> dict[str, Any]:
    shown = query if len(query) <= 80 else query[:77] + "..."
    summary = f"Found {count} {what}{'' if count == 1 else 's'} for \u201c{shown}\u201d"
    summary += f" ({found.mode} search)." + (f" Note: {found.note}." if found.note else "")
    return {
        "success": True,
        "count": count,
        "summary": summary,
        "summary_raw": summary,
        "result_refs": {},
        "search_mode": found.mode,
        "search_strategy": {"mode": found.mode, "ranking": "reciprocal rank fusion"}
        if found.mode == "hybrid"
        else {"mode": found.mode},
        "execution_time_ms": round((time.perf_counter() - started) * 1000),
        "iterations": 1,
        "token_usage": None,
    }


@router.post(
    "/agents/search/images",
    response_model=ImageSearchResponse,
    summary="Find images by what they show or say",
    responses=errors(400, 503),
)
async def search_images(
    body: ImageSearchRequest,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> dict[str, Any]:
    started = time.perf_counter()
    where = [File.media_type == "image"]
    if body.folder_id:
        where.append(File.folder_id == body.folder_id.lower())
    if body.image_ids is not None:
        where.append(File.id.in_([i.lower() for i in body.image_ids]))
    hits, found = await state.searcher.files(
        session,
        auth.tenant.id,
        body.query,
        where=where,
        limit=body.limit,
        mode=body.mode,
        parts=("caption", "text"),
    )
    results = [
        {
            "image_id": hit.file.id,
            "score": hit.score,
            "filename": hit.file.filename,
            "title": hit.file.title,
            "description": hit.file.description,
            "folder_id": hit.file.folder_id,
            "thumbnail_url": signed_url(
                request, state, hit.file, download=False, variant=THUMBNAIL
            ),
            "matched": "text" if hit.matched == "text" else "description",
        }
        for hit in hits
    ]
    return {
        **_envelope(found, len(results), "image", body.query, started),
        "results": results,
        "result_ids": [r["image_id"] for r in results],
    }


@router.post(
    "/agents/search/documents",
    response_model=DocumentSearchResponse,
    summary="Find passages of documents by what they say",
    responses=errors(400, 503),
)
async def search_documents(
    body: DocumentSearchRequest, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    started = time.perf_counter()
    where = [File.media_type == "document"]
    if body.document_ids is not None:
        where.append(File.id.in_([i.lower() for i in body.document_ids]))
    if body.document_types:
        where.append(File.format.in_([t.strip().lower().lstrip(".") for t in body.document_types]))
    hits, found = await state.searcher.chunks(
        session, auth.tenant.id, body.query, where=where, limit=body.limit, mode=body.mode
    )
    results = [
        {
            "chunk_id": f"{hit.file.id}:{hit.chunk.index}",
            "document_id": hit.file.id,
            "document_filename": hit.file.filename,
            "filename": hit.file.filename,
            "chunk_index": hit.chunk.index,
            "text": hit.chunk.text,
            "page_numbers": list(hit.chunk.page_numbers),
            "score": hit.score,
        }
        for hit in hits
    ]
    return {
        **_envelope(found, len(results), "passage", body.query, started),
        "results": results,
        "chunk_ids": [r["chunk_id"] for r in results],
        "document_ids": list(dict.fromkeys(r["document_id"] for r in results)),
    }


@router.get(
    "/files/{file_id}/similar",
    response_model=SimilarFiles,
    summary="Files like this one: near-duplicate pictures, pictures that look alike, then the "
    "nearest by meaning",
)
async def similar_files(
    file_id: str,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    row = await file_service.get_file(session, auth.tenant.id, file_id)
    hits = await state.searcher.similar(session, row, limit=limit)
    items = [
        {
            "id": hit.file.id,
            "filename": hit.file.filename,
            "title": hit.file.title,
            "media_type": hit.file.media_type,
            "score": hit.score,
            "near_duplicate": hit.near_duplicate,
            "hash_distance": hit.hash_distance,
            "thumbnail_url": signed_url(
                request, state, hit.file, download=False, variant=THUMBNAIL
            ),
        }
        for hit in hits
    ]
    return {"file_id": row.id, "items": items, "count": len(items)}
