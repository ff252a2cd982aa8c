"""Lexical search: the filter of ``GET /files?search=``, and ranked lists for hybrid search.

Two indexes per database. SQLite: the FTS5 tables ``files_fts`` (migration 0003) and
``chunks_fts`` (0009). PostgreSQL: the generated ``tsvector`` columns ``files.search_vector``,
``files.text_vector`` and ``chunks.search_vector`` with GIN indexes (0009), parsed with the
``simple`` configuration (no stemming, any language), as FTS5's ``unicode61`` does.

- The filter: every word of the search must appear, as a word or the start of one ("inv" finds
  "invoice"), case (and on SQLite accents) ignored, in the chosen columns: ``metadata``
  (filename, title, description, tags, key elements), ``visible_text`` (OCR or document text),
  or either for ``all``. A search with no word in it matches substrings with LIKE.
- The ranked lists: any word may match (a question in plain words rarely has all its words in
  one file), common English words are left out, and the best matches come first (BM25 on
  SQLite, ``ts_rank`` on PostgreSQL).
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import column, table

from ..db.models import Chunk, File

__all__ = [
    "MODES",
    "ChunkMatch",
    "FileMatch",
    "escape_like",
    "fts_query",
    "ranked_chunks",
    "ranked_files",
    "search_filter",
]

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
_CHUNK_SEARCH_ID = literal_column("chunks.search_id", Integer)
_FILE_VECTOR: ColumnElement[object] = literal_column("files.search_vector")
_TEXT_VECTOR: ColumnElement[object] = literal_column("files.text_vector")
_CHUNK_VECTOR: ColumnElement[object] = literal_column("chunks.search_vector")

# left out of ranked searches: they match nearly everything and rank nothing
_STOP = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
find show any photo photos picture pictures image images file files document documents
"""
STOP_WORDS = frozenset(_STOP.split())


def fts_query(search: str, mode: str) -> str | None:
    """The FTS5 query for ``search`` (every word as a quoted prefix), or None if it has no word.

    Quoting each word keeps FTS5 syntax (``AND``, ``NEAR``, ``*``, ``:``, quotes) out of users'
    hands: whatever they type is searched for, and never a syntax error.
    """
    words = _words(search)
    if not words:
        return None
    terms = " AND ".join(f'"{word}"*' for word in words)
    return f"{_COLUMNS[mode]} : ({terms})"


def _words(search: str) -> list[str]:
    """The words of ``search`` in NFC, as stored text is (a decomposed "café", as some
    keyboards type it, is the same word)."""
    return _WORD.findall(unicodedata.normalize("NFC", search))[:MAX_WORDS]


def _ranked_words(search: str) -> list[str]:
    """The words, each once whatever its case, less the stop words (unless that is all)."""
    first: dict[str, str] = {}
    for word in _words(search):
        first.setdefault(word.casefold(), word)
    words = list(first.values())
    return [word for word in words if word.lower() not in STOP_WORDS] or words


def _ts_query(words: Sequence[str], joiner: str) -> ColumnElement[object]:
    """A prefix ``tsquery`` of ``words`` (word characters only: nothing for its syntax). The
    words go as typed: the ``simple`` configuration lower-cases them as it did the stored
    text, with the database's own rules (Python's differ, e.g. for "İ")."""
    return func.to_tsquery("simple", joiner.join(f"{word}:*" for word in words))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(search: str, mode: str) -> ColumnElement[bool]:
    # both sides lower-cased by the database, so by the same rules whatever they are
    pattern = func.lower(literal(f"%{escape_like(unicodedata.normalize('NFC', search))}%"))

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
    words = _words(search)
    if dialect == "postgresql" and words:
        query = _ts_query(words, " & ")
        metadata = _FILE_VECTOR.op("@@")(query)
        visible = _TEXT_VECTOR.op("@@")(query)
        if mode == "metadata":
            return metadata
        return visible if mode == "visible_text" else or_(metadata, visible)
    fts = fts_query(search, mode) if dialect == "sqlite" else None
    if fts is None:
        return _like(search, mode)
    matching = select(_INDEX.c.rowid).where(literal_column("files_fts").op("MATCH")(fts))
    return _SEARCH_ID.in_(matching)


@dataclass(frozen=True)
class FileMatch:
    file_id: str
    matched: str  # description (title, tags, description...) or text (visible text)


@dataclass(frozen=True)
class ChunkMatch:
    file_id: str
    chunk_index: int


async def ranked_files(
    session: AsyncSession,
    search: str,
    *,
    where: Sequence[ColumnElement[bool]],
    limit: int,
    min_share: float = 0.0,
) -> list[FileMatch]:
    """The files matching any word of ``search``, best first (``where``: tenant, filters).

    ``min_share``: only files that hold at least this share of the search's words (a question
    of six words and a file that shares one common word with it are no lexical match).
    """
    words = _ranked_words(search)
    if not words:
        return []
    found = await _ranked_files(session, words, where=where, limit=limit)
    if min_share <= 0 or len(words) < 2:
        return found
    held = await _words_held(session, words, [m.file_id for m in found], chunks=False)
    return [m for m in found if held.get(m.file_id, 0) >= min_share * len(words)]


async def _ranked_files(
    session: AsyncSession,
    words: list[str],
    *,
    where: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[FileMatch]:
    if session.get_bind().dialect.name == "postgresql":
        query = _ts_query(words, " | ")
        meta = func.ts_rank(_FILE_VECTOR, query)
        body = func.ts_rank(_TEXT_VECTOR, query)
        ranked = await session.execute(
            select(File.id, meta.label("meta"), body.label("body"))
            .where(or_(_FILE_VECTOR.op("@@")(query), _TEXT_VECTOR.op("@@")(query)), *where)
            .order_by((meta + body).desc(), File.id)
            .limit(limit)
        )
        return [FileMatch(r.id, "description" if r.meta >= r.body else "text") for r in ranked]
    terms = " OR ".join(f'"{word}"*' for word in words)
    fts = f"{{metadata visible_text}} : ({terms})"
    # First the best matches from the index alone (bm25 is lower for better ones; weights 0/1
    # by column tell which column matched best), then their files, filtered: joining every
    # match before sorting costs twice as much. If the filters leave too few of them, the
    # whole list is read.
    for head in (max(20 * limit, 2_000), None):
        best = select(
            _INDEX.c.rowid,
            literal_column("bm25(files_fts)", Float).label("score"),
            literal_column("bm25(files_fts, 0.0, 1.0, 0.0)", Float).label("meta"),
            literal_column("bm25(files_fts, 0.0, 0.0, 1.0)", Float).label("body"),
        ).where(literal_column("files_fts").op("MATCH")(fts))
        if head is not None:
            best = best.order_by(literal_column("score")).limit(head)
        found = best.subquery("best")
        score = found.c.score
        rows: Sequence[Any] = (
            await session.execute(
                select(File.id, found.c.meta, found.c.body)
                .join(found, found.c.rowid == _SEARCH_ID)
                .where(*where)
                .order_by(score, File.id)
                .limit(limit)
            )
        ).all()
        if head is None or len(rows) == limit:
            break
        total = await session.scalar(select(func.count()).select_from(best.subquery()))
        if (total or 0) < head:
            break  # the head was every match: nothing more to find
    return [FileMatch(r.id, "description" if r.meta <= r.body else "text") for r in rows]


async def ranked_chunks(
    session: AsyncSession,
    search: str,
    *,
    where: Sequence[ColumnElement[bool]],
    limit: int,
    min_share: float = 0.0,
) -> list[ChunkMatch]:
    """The document chunks matching any word of ``search``, best first (``min_share``: as
    ``ranked_files``)."""
    words = _ranked_words(search)
    if not words:
        return []
    found = await _ranked_chunks(session, words, where=where, limit=limit)
    if min_share <= 0 or len(words) < 2:
        return found
    keys = [(m.file_id, m.chunk_index) for m in found]
    held = await _words_held(session, words, keys, chunks=True)
    return [
        m for m, key in zip(found, keys, strict=True) if held.get(key, 0) >= min_share * len(words)
    ]


async def _ranked_chunks(
    session: AsyncSession,
    words: list[str],
    *,
    where: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[ChunkMatch]:
    chunks = select(Chunk.file_id, Chunk.index).join(File, File.id == Chunk.file_id)
    if session.get_bind().dialect.name == "postgresql":
        query = _ts_query(words, " | ")
        rank = func.ts_rank(_CHUNK_VECTOR, query)
        statement = chunks.where(_CHUNK_VECTOR.op("@@")(query), *where).order_by(
            rank.desc(), Chunk.file_id, Chunk.index
        )
    else:
        terms = " OR ".join(f'"{word}"*' for word in words)
        index = table("chunks_fts", column("rowid", Integer))
        statement = (
            chunks.join(index, index.c.rowid == _CHUNK_SEARCH_ID)
            .where(literal_column("chunks_fts").op("MATCH")(terms), *where)
            .order_by(text("bm25(chunks_fts)"), Chunk.file_id, Chunk.index)
        )
    rows = await session.execute(statement.limit(limit))
    return [ChunkMatch(r.file_id, r[1]) for r in rows]


async def _words_held(
    session: AsyncSession, words: list[str], keys: Sequence[Any], *, chunks: bool
) -> dict[Any, int]:
    """How many of ``words`` each of ``keys`` (file ids, or (file id, chunk index)) holds, as
    a word or the start of one, in what the ranked search reads: one query, each word's
    matches read once from the index (not looked up per key: ten times slower)."""
    if not keys:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    held: list[ColumnElement[int]] = []
    for word in words:
        if postgres:
            query = _ts_query([word], "")
            hit = (
                _CHUNK_VECTOR.op("@@")(query)
                if chunks
                else or_(_FILE_VECTOR.op("@@")(query), _TEXT_VECTOR.op("@@")(query))
            )
        else:
            name = "chunks_fts" if chunks else "files_fts"
            pattern = f'"{word}"*' if chunks else f'{{metadata visible_text}} : "{word}"*'
            index = table(name, column("rowid", Integer))
            matches = select(index.c.rowid).where(literal_column(name).op("MATCH")(pattern))
            hit = (_CHUNK_SEARCH_ID if chunks else _SEARCH_ID).in_(matches)
        held.append(case((hit, 1), else_=0))
    count = reduce(operator.add, held).label("held")
    if chunks:
        rows = await session.execute(
            select(Chunk.file_id, Chunk.index, count).where(
                tuple_(Chunk.file_id, Chunk.index).in_(list(keys))
            )
        )
        return {(r.file_id, r[1]): r.held for r in rows}
    rows = await session.execute(select(File.id, count).where(File.id.in_(list(keys))))
    return {r.id: r.held for r in rows}
