"""Lexical search of files for ``GET /files?search=...&search_mode=...``.

On SQLite the FTS5 index ``files_fts`` (migration 0003) is used: every word of the search must
appear, as a word or the start of one ("inv" finds "invoice"), case and accents ignored, in the
chosen columns: ``metadata`` (filename, title, description, tags, key elements),
``visible_text`` (OCR or document text), or either for ``all``. Other databases, and searches
with no word in them, match substrings with LIKE over the same fields.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, cast, func, literal_column, or_, select
from sqlalchemy.sql import column, table

from ..db.models import File

__all__ = ["MODES", "escape_like", "fts_query", "search_filter"]

MODES = ("all", "metadata", "visible_text")
MAX_WORDS = 32

_WORD = re.compile(r"[^\W_]+")  # what unicode61 calls a token character
_COLUMNS = {
    "all": "{metadata visible_text}",
    "metadata": "metadata",
    "visible_text": "visible_text",
}
_INDEX = table("files_fts", column("rowid", Integer))
_SEARCH_ID = literal_column("files.search_id", Integer)


def fts_query(search: str, mode: str) -> str | None:
    """The FTS5 query for ``search`` (every word as a quoted prefix), or None if it has no word.

    Quoting each word keeps FTS5 syntax (``AND``, ``NEAR``, ``*``, ``:``, quotes) out of users'
    hands: whatever they type is searched for, and never a syntax error.
    """
    words = _WORD.findall(search)[:MAX_WORDS]
    if not words:
        return None
    terms = " AND ".join(f'"{word}"*' for word in words)
    return f"{_COLUMNS[mode]} : ({terms})"


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(search: str, mode: str) -> ColumnElement[bool]:
    pattern = f"%{escape_like(search.lower())}%"

    def contains(expression: Any) -> ColumnElement[bool]:
        return func.lower(func.coalesce(expression, "")).like(pattern, escape="\\")

    text_match = contains(File.visible_text)
    meta_match = or_(
        contains(File.filename),
        contains(File.title),
        contains(File.description),
        contains(cast(File.tags, String)),
        contains(cast(File.ai_tags, String)),
    )
    if mode == "visible_text":
        return text_match
    if mode == "metadata":
        return meta_match
    return or_(meta_match, text_match)


def search_filter(search: str, mode: str, dialect: str) -> ColumnElement[bool]:
    """The WHERE clause that keeps the files matching ``search`` in ``mode``."""
    query = fts_query(search, mode) if dialect == "sqlite" else None
    if query is None:
        return _like(search, mode)
    matching = select(_INDEX.c.rowid).where(literal_column("files_fts").op("MATCH")(query))
    return _SEARCH_ID.in_(matching)
