"""Nearest vectors of one tenant and one model: numpy over SQLite rows, or pgvector.

The database is the truth on both: vectors are rows of ``embeddings``, written in the same
transaction as the file's ``embedding_status``, so rows and vectors agree after any crash.

- SQLite (``MatrixIndex``): each process keeps the rows in memory as float32 blocks, loads the
  rows added since it last looked (``id`` only grows) before each search, and scores them with
  one matrix product: exact, about 10 ms for 100,000 vectors of 384 numbers. Candidates are
  then checked against the database (the file is live, the tenant's, within the filters), and
  rows found deleted are dropped from memory then.
- PostgreSQL (``PgVectorIndex``): the same question as one SQL query with pgvector's ``<=>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread
import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Float, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Embedding, File, PgVector

__all__ = ["MatrixIndex", "PgVectorIndex", "VectorHit", "VectorIndex", "open_index"]

LOAD_BATCH = 5_000  # rows read per query while catching up
MERGE_BLOCKS = 32  # past this many blocks, they are joined into one (fewer, larger products)


@dataclass(frozen=True)
class VectorHit:
    embedding_id: int
    file_id: str
    part: str
    chunk_index: int | None
    similarity: float  # cosine, -1..1


class VectorIndex(Protocol):
    async def warm(self, session: AsyncSession, model: str) -> int:
        """Get ready to search ``model`` (at start); how many vectors it holds in memory."""
        ...

    async def nearest(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        model: str,
        query: npt.NDArray[np.float32],
        parts: Collection[str],
        limit: int,
        min_similarity: float,
        where: Sequence[ColumnElement[bool]] = (),
        per_file: bool = False,
    ) -> list[VectorHit]:
        """Up to ``limit`` hits, best first, of live files of the tenant matching ``where``.

        ``per_file``: the best hit of each file only (ranking files rather than chunks).
        """
        ...


def open_index(dialect: str) -> VectorIndex:
    return PgVectorIndex() if dialect == "postgresql" else MatrixIndex()


def _live(tenant_id: str, where: Sequence[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    return [File.tenant_id == tenant_id, File.deleted_at.is_(None), *where]


# --- SQLite: numpy over the rows, kept in memory per process ---


@dataclass
class _Block:
    ids: npt.NDArray[np.int64]
    tenants: npt.NDArray[np.int32]  # codes of _Matrix.tenant_codes; -1: forgotten row
    parts: npt.NDArray[np.int8]
    vectors: npt.NDArray[np.float32]
    rows: list[tuple[str, str, int | None]]  # (file_id, part, chunk_index) per row


@dataclass
class _Matrix:
    last_id: int = 0
    dimension: int = 0
    blocks: list[_Block] = field(default_factory=list)
    tenant_codes: dict[str, int] = field(default_factory=dict)
    part_codes: dict[str, int] = field(default_factory=dict)

    def code(self, table: dict[str, int], value: str) -> int:
        return table.setdefault(value, len(table))

    def add(self, rows: Sequence[Any]) -> None:
        vectors = [np.frombuffer(row.vector, dtype="<f4") for row in rows]
        self.dimension = self.dimension or len(vectors[0])
        keep = [i for i, v in enumerate(vectors) if len(v) == self.dimension]
        if not keep:
            return
        self.blocks.append(
            _Block(
                ids=np.array([rows[i].id for i in keep], dtype=np.int64),
                tenants=np.array(
                    [self.code(self.tenant_codes, rows[i].tenant_id) for i in keep], np.int32
                ),
                parts=np.array([self.code(self.part_codes, rows[i].part) for i in keep], np.int8),
                vectors=np.stack([vectors[i] for i in keep]).astype(np.float32),
                rows=[(rows[i].file_id, rows[i].part, rows[i].chunk_index) for i in keep],
            )
        )
        if len(self.blocks) > MERGE_BLOCKS:
            self.blocks = [_merge(self.blocks)]

    def forget(self, embedding_ids: Collection[int]) -> None:
        gone = np.fromiter(embedding_ids, dtype=np.int64)
        for block in self.blocks:
            block.tenants[np.isin(block.ids, gone)] = -1


def _merge(blocks: list[_Block]) -> _Block:
    return _Block(
        ids=np.concatenate([b.ids for b in blocks]),
        tenants=np.concatenate([b.tenants for b in blocks]),
        parts=np.concatenate([b.parts for b in blocks]),
        vectors=np.concatenate([b.vectors for b in blocks]),
        rows=[row for b in blocks for row in b.rows],
    )


def _score(
    blocks: Sequence[_Block],
    tenant: int,
    parts: npt.NDArray[np.int8],
    query: npt.NDArray[np.float32],
    floor: float,
) -> list[tuple[float, int, int]]:
    """(similarity, block, row) of the tenant's rows of ``parts`` at or above ``floor``, best
    first (sorted in numpy: only the rows above the floor become Python objects)."""
    scores: list[npt.NDArray[np.float32]] = []
    where: list[npt.NDArray[np.int64]] = []
    for number, block in enumerate(blocks):
        mine = (block.tenants == tenant) & np.isin(block.parts, parts)
        if not mine.any():
            continue
        # every row at once: one matrix-vector product reads the block in place, where picking
        # the tenant's rows first would copy them
        found = block.vectors @ query
        rows = np.flatnonzero(mine & (found >= floor))
        scores.append(found[rows])
        where.append(np.stack([np.full(rows.size, number), rows], axis=1))
    if not scores:
        return []
    everything = np.concatenate(scores)
    places = np.concatenate(where)
    order = np.argsort(-everything, kind="stable")
    return [(float(everything[i]), int(places[i, 0]), int(places[i, 1])) for i in order.tolist()]


class MatrixIndex:
    def __init__(self) -> None:
        self._models: dict[str, _Matrix] = {}
        self._lock = asyncio.Lock()

    async def warm(self, session: AsyncSession, model: str) -> int:
        """Load the vectors of ``model`` now (at start), so the first search does not wait."""
        matrix = await self._catch_up(session, model)
        return sum(len(block.ids) for block in matrix.blocks)

    async def _catch_up(self, session: AsyncSession, model: str) -> _Matrix:
        async with self._lock:
            matrix = self._models.setdefault(model, _Matrix())
            while True:
                rows = (
                    await session.execute(
                        select(
                            Embedding.id,
                            Embedding.tenant_id,
                            Embedding.file_id,
                            Embedding.part,
                            Embedding.chunk_index,
                            Embedding.vector,
                        )
                        .where(Embedding.model == model, Embedding.id > matrix.last_id)
                        .order_by(Embedding.id)
                        .limit(LOAD_BATCH)
                    )
                ).all()
                if not rows:
                    return matrix
                matrix.last_id = rows[-1].id
                matrix.add(rows)

    async def nearest(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        model: str,
        query: npt.NDArray[np.float32],
        parts: Collection[str],
        limit: int,
        min_similarity: float,
        where: Sequence[ColumnElement[bool]] = (),
        per_file: bool = False,
    ) -> list[VectorHit]:
        matrix = await self._catch_up(session, model)
        tenant = matrix.tenant_codes.get(tenant_id)
        codes = np.array([matrix.part_codes[p] for p in parts if p in matrix.part_codes], np.int8)
        if tenant is None or codes.size == 0 or len(query) != matrix.dimension:
            return []
        blocks = tuple(matrix.blocks)
        scored = await anyio.to_thread.run_sync(
            _score, blocks, tenant, codes, query, min_similarity
        )
        hits: list[VectorHit] = []
        seen: set[str] = set()
        start = 0
        # candidates are checked against the database in growing rounds, until enough pass
        while start < len(scored) and len(hits) < limit:
            batch = scored[start : start + max(4 * limit, 64)]
            start += len(batch)
            candidates = []
            for similarity, number, row in batch:
                file_id, part, chunk_index = blocks[number].rows[row]
                if per_file and file_id in seen:
                    continue
                seen.add(file_id)
                ident = int(blocks[number].ids[row])
                candidates.append(VectorHit(ident, file_id, part, chunk_index, similarity))
            hits.extend(await self._verified(session, matrix, tenant_id, candidates, where))
        return hits[:limit]

    async def _verified(
        self,
        session: AsyncSession,
        matrix: _Matrix,
        tenant_id: str,
        candidates: list[VectorHit],
        where: Sequence[ColumnElement[bool]],
    ) -> list[VectorHit]:
        if not candidates:
            return []
        ids = [hit.embedding_id for hit in candidates]
        passing = set(
            await session.scalars(
                select(Embedding.id)
                .join(File, File.id == Embedding.file_id)
                .where(Embedding.id.in_(ids), *_live(tenant_id, where))
            )
        )
        missing = set(ids) - passing
        if missing:  # deleted rows (re-embedded or purged files) leave memory now
            present = set(
                await session.scalars(select(Embedding.id).where(Embedding.id.in_(missing)))
            )
            if missing - present:
                matrix.forget(missing - present)
        return [hit for hit in candidates if hit.embedding_id in passing]


# --- PostgreSQL: pgvector ---


def _literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(map(repr, vector.astype(float).tolist())) + "]"


class PgVectorIndex:
    """An exact scan of the tenant's rows of one model (``<=>``: cosine distance)."""

    async def warm(self, session: AsyncSession, model: str) -> int:
        return 0  # (the database holds them)

    async def nearest(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        model: str,
        query: npt.NDArray[np.float32],
        parts: Collection[str],
        limit: int,
        min_similarity: float,
        where: Sequence[ColumnElement[bool]] = (),
        per_file: bool = False,
    ) -> list[VectorHit]:
        target = cast(literal(_literal(query)), PgVector())
        distance = Embedding.vector.op("<=>", return_type=Float())(target)
        rows = (
            select(
                Embedding.id,
                Embedding.file_id,
                Embedding.part,
                Embedding.chunk_index,
                (1.0 - distance).label("similarity"),
                func.row_number()
                .over(partition_by=Embedding.file_id, order_by=distance)
                .label("place"),  # (1: the file's best row)
            )
            .join(File, File.id == Embedding.file_id)
            .where(
                Embedding.model == model,
                Embedding.tenant_id == tenant_id,
                Embedding.part.in_(list(parts)),
                *_live(tenant_id, where),
            )
            .subquery()
        )
        statement = select(rows).where(rows.c.similarity >= min_similarity)
        if per_file:
            statement = statement.where(rows.c.place == 1)
        found = await session.execute(
            statement.order_by(rows.c.similarity.desc(), rows.c.id).limit(limit)
        )
        return [
            VectorHit(int(r.id), r.file_id, r.part, r.chunk_index, float(r.similarity))
            for r in found
        ]
