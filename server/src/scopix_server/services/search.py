"""Search by meaning and by words: the use cases behind agent search, ``similar`` and the list.

Modes: ``lexical`` (the words: BM25 or ts_rank), ``semantic`` (the vectors: cosine similarity
of the query's embedding), ``hybrid`` (both, fused by reciprocal rank; the default). Without an
embedder, ``hybrid`` is lexical and says so (``Found.mode``); ``semantic`` is refused.

Scores are in 0-1: the cosine similarity in ``semantic`` mode, the fused rank score otherwise
(1.0: first in every list).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import anyio
import numpy as np
from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Chunk, Embedding, File
from ..errors import BadRequest, ServiceUnavailable
from ..processing import StepError
from ..providers.embedding import Embedder, Vectors, normalise
from ..search import (
    ChunkMatch,
    FileMatch,
    VectorHit,
    VectorIndex,
    fuse,
    ranked_chunks,
    ranked_files,
)
from ..search.near import nearest_duplicates
from ..search.visual import (
    LOOKS_FLOOR,
    NEAR_LOOKS,
    VISUAL_MODEL,
    VISUAL_PART,
    same_colours,
    visual_vector,
)

__all__ = ["ChunkHit", "FileHit", "Found", "SEARCH_MODES", "Searcher", "SimilarHit"]

logger = logging.getLogger("scopix_server")

SEARCH_MODES = ("hybrid", "semantic", "lexical")
POOL = 1_000  # candidates per ranked list, at most
HYBRID_MIN_SHARE = 0.5
QUERY_EMBED_SECONDS = 10.0  # a search waits this long for the query's vector, then uses words
IMAGE_PARTS = ("caption", "text")
FILE_PARTS = ("caption", "text", "summary", "title")
_PART_MATCHED = {
    "caption": "description",
    "summary": "description",
    "title": "description",
    "text": "text",
}

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class FileHit:
    file: File
    score: float
    matched: str  # description | text | chunk


@dataclass(frozen=True)
class ChunkHit:
    file: File
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Found:
    mode: str  # the mode that ran (hybrid may fall back to lexical)
    note: str | None = None  # why it fell back
    ranked: int = 0  # (files) how many matched before the limit: a lower bound past the pool


@dataclass(frozen=True)
class SimilarHit:
    file: File
    score: float
    near_duplicate: bool
    hash_distance: int | None


def _pool(limit: int) -> int:
    return min(max(3 * limit, 100), POOL)


def _rank(mode: str, semantic: list[tuple[K, float]], lexical: list[K]) -> list[tuple[K, float]]:
    """One ranking of ``semantic`` (key, similarity) and ``lexical`` keys, each best first:
    the similarities themselves in ``semantic`` mode (the first of each key), else reciprocal
    rank fusion (in ``hybrid`` the meaning's list first: a tie goes to it)."""
    if mode == "semantic":
        best: dict[K, float] = {}
        for key, similarity in semantic:
            best.setdefault(key, max(0.0, min(1.0, similarity)))
        return list(best.items())
    rankings = [lexical]
    if mode == "hybrid":
        rankings.insert(0, [key for key, _ in semantic])
    return fuse(rankings)


def _live(tenant_id: str, where: Sequence[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    return [File.tenant_id == tenant_id, File.deleted_at.is_(None), *where]


async def _files(session: AsyncSession, ids: Sequence[str]) -> dict[str, File]:
    if not ids:
        return {}
    rows = await session.scalars(select(File).where(File.id.in_(list(ids))))
    return {row.id: row for row in rows}


class Searcher:
    def __init__(
        self, *, embedder: Embedder | None, index: VectorIndex, min_similarity: float
    ) -> None:
        self._embedder = embedder
        self._index = index
        self._floor = min_similarity

    async def warm(self, session: AsyncSession) -> int:
        """Load the vectors a search reads (at start, in the background); how many."""
        if self._embedder is None:
            return 0
        return await self._index.warm(session, self._embedder.model)

    @property
    def enabled(self) -> bool:
        """Whether files are searched by meaning (an embedder is configured)."""
        return self._embedder is not None

    async def _legs(
        self, query: str, mode: str, words: Callable[[float], Awaitable[list[T]]]
    ) -> tuple[Vectors | None, Found, list[T]]:
        """The query's vector and the lexical matches (``words(min_share)``), side by side.

        In hybrid mode a lexical match must hold at least half the query's words (a file that
        shares one common word with a question is no evidence against its meaning), and the
        query is embedded while the words are searched.
        """
        if mode != "hybrid" or self._embedder is None:
            vector, found = await self._query_vector(query, mode)
            return vector, found, [] if found.mode == "semantic" else await words(0.0)
        embedded: list[tuple[Vectors | None, Found]] = []

        async def embed() -> None:
            embedded.append(await self._query_vector(query, mode))

        async with anyio.create_task_group() as group:
            group.start_soon(embed)
            lexical = await words(HYBRID_MIN_SHARE)
        vector, found = embedded[0]
        if found.mode == "lexical":  # the embedder failed: the words alone decide
            lexical = await words(0.0)
        return vector, found, lexical

    async def _query_vector(self, query: str, mode: str) -> tuple[Vectors | None, Found]:
        """The query's embedding, or None (and why) when only its words can be searched."""
        if mode == "lexical":
            return None, Found("lexical")
        if self._embedder is None:
            if mode == "semantic":
                raise BadRequest(
                    "search by meaning is turned off on this server (SCOPIX_SERVER_EMBEDDER="
                    "none); use mode lexical or hybrid"
                )
            return None, Found("lexical", "search by meaning is turned off on this server")
        try:
            with anyio.fail_after(QUERY_EMBED_SECONDS):
                vectors = await self._embedder.embed([query])
        except TimeoutError:
            error = StepError(f"no answer within {QUERY_EMBED_SECONDS:g} s", "timeout")
            if mode == "semantic":
                raise ServiceUnavailable(f"the embedder failed: {error}") from None
            return None, Found("lexical", f"searched by words only: the embedder failed ({error})")
        except StepError as error:
            if mode == "semantic":
                raise ServiceUnavailable(f"the embedder failed: {error}") from None
            logger.warning("search by words only: the embedder failed: %s", error)
            return None, Found("lexical", f"searched by words only: the embedder failed ({error})")
        return vectors[0], Found(mode)

    async def _nearest(
        self,
        session: AsyncSession,
        tenant_id: str,
        vector: Vectors | None,
        *,
        parts: Sequence[str],
        limit: int,
        where: Sequence[ColumnElement[bool]],
        per_file: bool = False,
    ) -> list[VectorHit]:
        """The vector leg: nothing when the query has no vector (lexical, or fallen back)."""
        if vector is None or self._embedder is None:
            return []
        return await self._index.nearest(
            session,
            tenant_id=tenant_id,
            model=self._embedder.model,
            query=vector,
            parts=parts,
            limit=limit,
            min_similarity=self._floor,
            where=where,
            per_file=per_file,
        )

    async def files(
        self,
        session: AsyncSession,
        tenant_id: str,
        query: str,
        *,
        where: Sequence[ColumnElement[bool]] = (),
        limit: int,
        mode: str = "hybrid",
        parts: Sequence[str] = FILE_PARTS,
    ) -> tuple[list[FileHit], Found]:
        """The tenant's live files best matching ``query``, at most ``limit``."""
        conditions = _live(tenant_id, where)
        pool = _pool(limit)

        def words(share: float) -> Awaitable[list[FileMatch]]:
            return ranked_files(session, query, where=conditions, limit=pool, min_share=share)

        vector, found, lexical = await self._legs(query, mode, words)
        semantic = await self._nearest(
            session, tenant_id, vector, parts=parts, limit=pool, where=where, per_file=True
        )
        matched = {hit.file_id: _PART_MATCHED.get(hit.part, "description") for hit in semantic}
        for match in lexical:
            matched.setdefault(match.file_id, match.matched)
        ranked = _rank(
            found.mode,
            [(hit.file_id, hit.similarity) for hit in semantic],
            [m.file_id for m in lexical],
        )
        found = replace(found, ranked=len(ranked))
        ranked = ranked[:limit]
        rows = await _files(session, [file_id for file_id, _ in ranked])
        hits = [
            FileHit(rows[file_id], round(score, 4), matched.get(file_id, "description"))
            for file_id, score in ranked
            if file_id in rows
        ]
        return hits, found

    async def chunks(
        self,
        session: AsyncSession,
        tenant_id: str,
        query: str,
        *,
        where: Sequence[ColumnElement[bool]] = (),
        limit: int,
        mode: str = "hybrid",
    ) -> tuple[list[ChunkHit], Found]:
        """The passages of the tenant's live documents best matching ``query``."""
        conditions = _live(tenant_id, where)
        pool = _pool(limit)

        def words(share: float) -> Awaitable[list[ChunkMatch]]:
            return ranked_chunks(session, query, where=conditions, limit=pool, min_share=share)

        vector, found, lexical = await self._legs(query, mode, words)
        semantic = await self._nearest(
            session, tenant_id, vector, parts=("chunk", "summary"), limit=pool, where=where
        )
        # a document found by its title or description answers with its first passage
        ranked = _rank(
            found.mode,
            [((hit.file_id, hit.chunk_index or 0), hit.similarity) for hit in semantic],
            [(m.file_id, m.chunk_index) for m in lexical],
        )
        ranked = ranked[:limit]
        if not ranked:
            return [], found
        keys = [key for key, _ in ranked]
        chunk_rows = await session.scalars(
            select(Chunk).where(tuple_(Chunk.file_id, Chunk.index).in_(keys))
        )
        chunks = {(c.file_id, c.index): c for c in chunk_rows}
        rows = await _files(session, list(dict.fromkeys(file_id for file_id, _ in keys)))
        hits = [
            ChunkHit(rows[key[0]], chunks[key], round(score, 4))
            for key, score in ranked
            if key in chunks and key[0] in rows
        ]
        return hits, found

    async def similar(self, session: AsyncSession, row: File, *, limit: int) -> list[SimilarHit]:
        """Files like ``row``: near-duplicate pictures first (by their hash), then pictures
        that look alike (by their visual vectors; the closest are near-duplicates too), then
        the nearest by meaning (its caption or summary against the others')."""
        hits: list[SimilarHit] = []
        seen = {row.id}
        if row.perceptual_hash:
            pairs = await session.execute(
                select(File.id, File.perceptual_hash).where(
                    *_live(row.tenant_id, [File.perceptual_hash.is_not(None), File.id != row.id])
                )
            )
            near = nearest_duplicates(row.perceptual_hash, ((i, h) for i, h in pairs if h))[:limit]
            files = await _files(session, [ident for ident, _ in near])
            for ident, bits in near:
                if ident in files:
                    hits.append(SimilarHit(files[ident], round(1 - bits / 64, 4), True, bits))
                    seen.add(ident)
        looks = await visual_vector(session, row.id)
        if looks is not None and len(hits) < limit:
            alike = await self._index.nearest(
                session,
                tenant_id=row.tenant_id,
                model=VISUAL_MODEL,
                query=looks,
                parts=(VISUAL_PART,),
                limit=limit - len(hits),
                min_similarity=LOOKS_FLOOR,
                where=[File.id.not_in(list(seen))],
                per_file=True,
            )
            files = await _files(session, [hit.file_id for hit in alike])
            for hit in alike:
                if hit.file_id in files and hit.file_id not in seen:
                    score = round(min(1.0, hit.similarity), 4)
                    candidate = files[hit.file_id]
                    duplicate = hit.similarity >= NEAR_LOOKS and same_colours(
                        row.vision, candidate.vision
                    )
                    hits.append(SimilarHit(candidate, score, duplicate, None))
                    seen.add(hit.file_id)
        vector = await self._own_vector(session, row)
        if vector is not None and len(hits) < limit and self._embedder is not None:
            nearest = await self._index.nearest(
                session,
                tenant_id=row.tenant_id,
                model=self._embedder.model,
                query=vector,
                parts=(*FILE_PARTS, "chunk"),
                limit=limit + len(seen),
                min_similarity=self._floor,
                where=[File.id.not_in(list(seen))],
                per_file=True,
            )
            files = await _files(session, [hit.file_id for hit in nearest])
            for hit in nearest:
                if hit.file_id in files and hit.file_id not in seen and len(hits) < limit:
                    score = round(max(0.0, min(1.0, hit.similarity)), 4)
                    hits.append(SimilarHit(files[hit.file_id], score, False, None))
                    seen.add(hit.file_id)
        return hits

    async def _own_vector(self, session: AsyncSession, row: File) -> Vectors | None:
        """The mean of the file's vectors: its caption and text, or its summary and every
        chunk (a document's generic summary alone would find every other document)."""
        if self._embedder is None:
            return None
        stored = list(
            await session.scalars(
                select(Embedding.vector).where(
                    Embedding.file_id == row.id, Embedding.model == self._embedder.model
                )
            )
        )
        if not stored:
            return None
        mean = np.mean([np.frombuffer(v, dtype="<f4") for v in stored], axis=0)
        vector: Vectors = normalise(mean[None, :])[0]
        return vector
