"""Retrieval mode: with no language model configured, a question is answered honestly with the
files and passages of the tenant's library that best match it, and a sentence that says so.
Nothing is written that the library does not hold: every line quotes a file it found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import ChatSession, File
from ..services.search import ChunkHit, FileHit, Searcher

__all__ = ["NO_MODEL", "Answer", "retrieve"]

NO_MODEL = (
    "No language model is configured for chat on this server, so this is not a written "
    "answer: these are the files in your library that best match your question. (For written "
    "answers, the server's administrator sets SCOPIX_SERVER_CHAT_PROVIDER=openai with "
    "SCOPIX_SERVER_CHAT_BASE_URL and SCOPIX_SERVER_CHAT_MODEL, for any OpenAI-compatible model "
    "with tool calls such as a local Ollama, or SCOPIX_SERVER_CHAT_PROVIDER=anthropic.)"
)
IMAGES = 5
PASSAGES = 4
_QUOTE = 300


@dataclass
class Answer:
    content: str
    images: list[FileHit] = field(default_factory=list)
    passages: list[ChunkHit] = field(default_factory=list)
    search_mode: str = "hybrid"

    def image_context(self) -> list[dict[str, Any]]:
        return [
            {
                "image_id": hit.file.id,
                "filename": hit.file.filename,
                "title": hit.file.title,
                "description": hit.file.description,
                "confidence": round(hit.score, 4),
            }
            for hit in self.images
        ]

    def citations(self) -> list[dict[str, Any]]:
        """Every file cited, once, images first; a document with the pages of its passages."""
        cited: dict[str, dict[str, Any]] = {}
        for image in self.images:
            cited[image.file.id] = {
                "file_id": image.file.id,
                "media_type": "image",
                "filename": image.file.filename,
            }
        for passage in self.passages:
            entry = cited.setdefault(
                passage.file.id,
                {
                    "file_id": passage.file.id,
                    "media_type": "document",
                    "filename": passage.file.filename,
                    "pages": [],
                },
            )
            pages = entry.setdefault("pages", [])
            for page in passage.chunk.page_numbers or ():
                if page not in pages:
                    pages.append(page)
        return list(cited.values())

    def passages_out(self) -> list[dict[str, Any]]:
        return [
            {
                "document_id": hit.file.id,
                "filename": hit.file.filename,
                "chunk_index": hit.chunk.index,
                "page_numbers": list(hit.chunk.page_numbers or ()),
                "text": hit.chunk.text,
                "score": round(hit.score, 4),
            }
            for hit in self.passages
        ]


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _QUOTE else flat[: _QUOTE - 1] + "\u2026"


def _write(images: Sequence[FileHit], passages: Sequence[ChunkHit]) -> str:
    lines = [NO_MODEL]
    if not images and not passages:
        lines += ["", "Nothing in your library matches this question."]
    if images:
        lines += ["", "Images:"]
        for hit in images:
            about = hit.file.description or hit.file.visible_text or "no description yet"
            lines.append(f"- {hit.file.filename} ({hit.file.id}): {_quote(about)}")
    if passages:
        lines += ["", "Passages:"]
        for passage in passages:
            pages = passage.chunk.page_numbers or ()
            where = f", page {', '.join(map(str, pages))}" if pages else ""
            quoted = f"\u201c{_quote(passage.chunk.text)}\u201d"
            lines.append(f"- {passage.file.filename}{where} ({passage.file.id}): {quoted}")
    return "\n".join(lines)


async def retrieve(
    session: AsyncSession,
    searcher: Searcher,
    chat: ChatSession,
    question: str,
    *,
    expected_image_ids: Sequence[str] = (),
) -> Answer:
    """Search the files the session may use for ``question``; ``expected_image_ids`` among
    them are considered first (they never widen what the session may use)."""
    image_where: list[ColumnElement[bool]] = [File.media_type == "image"]
    if chat.image_ids:
        image_where.append(File.id.in_(chat.image_ids))
    use_images = bool(chat.image_ids) or chat.use_all_images
    expected = [
        i.lower()
        for i in dict.fromkeys(expected_image_ids)
        if use_images and (not chat.image_ids or i.lower() in chat.image_ids)
    ]
    images: list[FileHit] = []
    mode = "hybrid"
    for where in (
        ([*image_where, File.id.in_(expected)], image_where) if expected else [image_where]
    ):
        if not use_images or len(images) >= IMAGES:
            break
        hits, found = await searcher.files(
            session,
            chat.tenant_id,
            question,
            where=where,
            limit=IMAGES,
            mode="hybrid",
            parts=("caption", "text"),
        )
        had = {hit.file.id for hit in images}
        images += [hit for hit in hits if hit.file.id not in had][: IMAGES - len(images)]
        mode = found.mode
    document_where: list[ColumnElement[bool]] = [File.media_type == "document"]
    if chat.document_ids:
        document_where.append(File.id.in_(chat.document_ids))
    passages, found = await searcher.chunks(
        session, chat.tenant_id, question, where=document_where, limit=PASSAGES, mode="hybrid"
    )
    return Answer(_write(images, passages), images, passages, found.mode if not images else mode)
