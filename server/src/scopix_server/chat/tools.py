"""The tools a chat model may call, over the tenant's own library and nothing else.

Each returns JSON for the model and records the files it returned (``seen``): an answer may
cite only those. An id the tenant does not own, or that the session may not use, is answered
as not found, exactly like an id that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import ChatSession, Chunk, File
from ..services.search import Searcher

__all__ = ["TOOLS", "Toolbox", "ToolError"]

_LIMIT = 10
_TEXT = 4000  # characters of a file's text given at once
_ID = {"type": "string", "description": "a file id (UUID) returned by another tool"}


def _tool(
    name: str, description: str, properties: dict[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A tool as OpenAI's chat completions declare it (``models`` converts it for others)."""
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = list(required)
    function = {"name": name, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


_LIMIT_PARAMETER = {"type": "integer", "minimum": 1, "maximum": _LIMIT}
_SEARCH = {
    "query": {"type": "string", "description": "what to look for"},
    "limit": _LIMIT_PARAMETER,
}

TOOLS: list[dict[str, Any]] = [
    _tool(
        "search_images",
        "Find the library's images by what they show or the text in them.",
        _SEARCH,
        ("query",),
    ),
    _tool(
        "search_documents",
        "Find passages of the library's documents by what they say; each passage comes with "
        "its document id and pages.",
        _SEARCH,
        ("query",),
    ),
    _tool(
        "read_file",
        "A file's details: name, type, description, tags, the text read from it (documents: "
        "page by page, from `page`).",
        {"file_id": _ID, "page": {"type": "integer", "minimum": 1}},
        ("file_id",),
    ),
    _tool(
        "list_files",
        "The library's newest files, optionally of one type or with a tag.",
        {
            "media_type": {"type": "string", "enum": ["image", "document", "video"]},
            "tag": {"type": "string"},
            "limit": _LIMIT_PARAMETER,
        },
    ),
]


class ToolError(Exception):
    """A call the model got wrong (unknown tool, bad arguments): told to the model, not fatal."""


def _limit(arguments: Mapping[str, Any]) -> int:
    value = arguments.get("limit", 5)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ToolError("limit must be an integer")
    return max(1, min(_LIMIT, value))


def _text(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{name} must be a non-empty string")
    return value.strip()[:2000]


@dataclass
class Toolbox:
    session: AsyncSession
    searcher: Searcher
    chat: ChatSession
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # file id -> citation
    images_found: list[dict[str, Any]] = field(default_factory=list)

    def _note(self, row: File, pages: list[int] | None = None) -> None:
        entry = self.seen.setdefault(
            row.id, {"file_id": row.id, "media_type": row.media_type, "filename": row.filename}
        )
        if pages:
            known = entry.setdefault("pages", [])
            known.extend(p for p in pages if p not in known)

    def _allowed(self) -> list[ColumnElement[bool]]:
        """What the session may use: its pinned images (or all, if allowed) and documents."""
        images = File.media_type == "image"
        if self.chat.image_ids:
            images = images & File.id.in_(self.chat.image_ids)
        elif not self.chat.use_all_images:
            images = images & File.id.in_([])
        documents = File.media_type != "image"
        if self.chat.document_ids:
            documents = (File.media_type == "document") & File.id.in_(self.chat.document_ids)
        return [images | documents]

    async def call(self, name: str, raw_arguments: str | None) -> str:
        """Run tool ``name``; its answer as JSON text (an error the model can read on failure)."""
        try:
            arguments = json.loads(raw_arguments or "{}")
        except (ValueError, RecursionError):  # (RecursionError: nested too deep to read)
            raise ToolError("the arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            raise ToolError("the arguments must be a JSON object")
        handler = {
            "search_images": self.search_images,
            "search_documents": self.search_documents,
            "read_file": self.read_file,
            "list_files": self.list_files,
        }.get(name)
        if handler is None:
            raise ToolError(f"there is no tool {name!r}; use one of the tools given")
        return json.dumps(await handler(arguments), ensure_ascii=False, default=str)

    async def search_images(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        hits, _ = await self.searcher.files(
            self.session,
            self.chat.tenant_id,
            _text(arguments, "query"),
            where=[File.media_type == "image", *self._allowed()],
            limit=_limit(arguments),
            parts=("caption", "text"),
        )
        results = []
        for hit in hits:
            self._note(hit.file)
            found = {
                "file_id": hit.file.id,
                "filename": hit.file.filename,
                "description": hit.file.description,
                "visible_text": (hit.file.visible_text or "")[:500] or None,
                "score": round(hit.score, 3),
            }
            results.append(found)
            if all(i["image_id"] != hit.file.id for i in self.images_found):
                self.images_found.append(
                    {
                        "image_id": hit.file.id,
                        "filename": hit.file.filename,
                        "title": hit.file.title,
                        "description": hit.file.description,
                        "confidence": round(hit.score, 4),
                    }
                )
        return {"images": results}

    async def search_documents(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        hits, _ = await self.searcher.chunks(
            self.session,
            self.chat.tenant_id,
            _text(arguments, "query"),
            where=[File.media_type == "document", *self._allowed()],
            limit=_limit(arguments),
        )
        results = []
        for hit in hits:
            pages = list(hit.chunk.page_numbers or ())
            self._note(hit.file, pages)
            results.append(
                {
                    "file_id": hit.file.id,
                    "filename": hit.file.filename,
                    "pages": pages,
                    "text": hit.chunk.text,
                    "score": round(hit.score, 3),
                }
            )
        return {"passages": results}

    async def read_file(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        ident = _text(arguments, "file_id").lower()
        page = arguments.get("page", 1)
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            raise ToolError("page must be an integer from 1")
        row = await self.session.scalar(
            select(File).where(
                File.id == ident,
                File.tenant_id == self.chat.tenant_id,
                File.deleted_at.is_(None),
                *self._allowed(),
            )
        )
        if row is None:  # (another tenant's file reads exactly like a missing one)
            return {"error": f"no file {ident} in this library"}
        out: dict[str, Any] = {
            "file_id": row.id,
            "filename": row.filename,
            "media_type": row.media_type,
            "title": row.title,
            "description": row.description,
            "tags": list(row.tags or []),
            "created_at": row.created_at,
        }
        if row.media_type == "document":
            chunks = (
                await self.session.scalars(
                    select(Chunk).where(Chunk.file_id == row.id).order_by(Chunk.index)
                )
            ).all()
            wanted = [c for c in chunks if not c.page_numbers or max(c.page_numbers) >= page]
            text, pages = "", list[int]()
            for chunk in wanted:
                if len(text) >= _TEXT:
                    break
                text += chunk.text[: _TEXT - len(text)] + "\n"
                pages.extend(p for p in chunk.page_numbers or () if p not in pages)
            out.update(page_count=row.page_count, from_page=page, pages=pages, text=text.strip())
            self._note(row, pages)
        else:
            out["visible_text"] = (row.visible_text or "")[:_TEXT] or None
            self._note(row)
        return out

    async def list_files(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        where: list[ColumnElement[bool]] = [
            File.tenant_id == self.chat.tenant_id,
            File.deleted_at.is_(None),
            *self._allowed(),
        ]
        media_type = arguments.get("media_type")
        if media_type is not None:
            if media_type not in ("image", "document", "video"):
                raise ToolError("media_type must be image, document or video")
            where.append(File.media_type == media_type)
        rows = (
            await self.session.scalars(
                select(File).where(*where).order_by(File.created_at.desc()).limit(50)
            )
        ).all()
        tag = arguments.get("tag")
        if tag is not None:
            if not isinstance(tag, str):
                raise ToolError("tag must be a string")
            rows = [r for r in rows if tag.lower() in [t.lower() for t in r.tags or []]]
        rows = rows[: _limit(arguments)]
        for row in rows:
            self._note(row)
        return {
            "files": [
                {
                    "file_id": r.id,
                    "filename": r.filename,
                    "media_type": r.media_type,
                    "description": r.description,
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        }
