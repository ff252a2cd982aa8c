"""Indexing races: two servers with workers over one database (SQLite, then PostgreSQL) index
the same file at once, again and again, while its title changes under them. Whatever the
interleaving, the file ends with one vector per text, of its latest title, never two sets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from model_servers import EmbeddingServer
from scopix_server import Settings
from scopix_server.db.models import Chunk, Embedding, File
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.jobs.embedding import texts_of
from server_support import LiveServer, make_key, start_postgres, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

ROUNDS = 4
EDITS = 6  # concurrent title changes per round, each queueing an embed job


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EmbeddingServer]:
    server = EmbeddingServer()
    server.delay = 0.05  # long enough for the jobs of both servers to overlap
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    endpoint: EmbeddingServer,
) -> Iterator[tuple[Settings, LiveServer, LiveServer]]:
    postgres = start_postgres() if request.param == "postgres" else None
    options: dict[str, Any] = {"database_url": postgres.url} if postgres else {}
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"embed-race-{request.param}"),
        workers=3,
        embedder="openai",
        embedding_base_url=endpoint.url,
        embedding_model="bag",
        job_poll_seconds=0.05,
        job_retry_delay_seconds=0.1,
        **options,
    )
    first, second = start_server(settings), start_server(settings)
    try:
        yield settings, first, second
    finally:
        first.stop()
        second.stop()
        if postgres is not None:
            postgres.stop()


async def _settled(client: httpx.AsyncClient, file_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await client.get(f"/files/{file_id}/status")).json()
        if status["is_terminal"]:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {status}")


async def _stored(settings: Settings, file_id: str) -> tuple[list[tuple[str, bytes]], str]:
    """The file's vectors, and the summary text its current state gives."""
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Embedding.part, Embedding.vector).where(Embedding.file_id == file_id)
            )
            vectors = [(part, bytes(vector)) for part, vector in rows]
            row = await session.get(File, file_id)
            assert row is not None and (row.embedding_model or "").startswith("openai:bag@")
            chunks = list(await session.scalars(select(Chunk).where(Chunk.file_id == file_id)))
            summary = next(t.text for t in texts_of(row, chunks) if t.part == "summary")
            return vectors, summary
    finally:
        await engine.dispose()


async def test_concurrent_indexing_of_one_file_keeps_one_set_of_the_latest_vectors(
    pair: tuple[Settings, LiveServer, LiveServer], endpoint: EmbeddingServer
) -> None:
    settings, first, second = pair
    headers = {"Authorization": f"Bearer {make_key(settings, 'racers')}"}
    async with (
        httpx.AsyncClient(base_url=first.base_url, headers=headers, timeout=60) as one,
        httpx.AsyncClient(base_url=second.base_url, headers=headers, timeout=60) as two,
    ):
        stored = await one.post("/files/upload", files={"file": ("n.txt", b"River barges.")})
        file_id = stored.json()["image_id"]
        await _settled(one, file_id)
        for round_number in range(ROUNDS):
            titles = [f"Round {round_number} edit {n} word{round_number}x{n}" for n in range(EDITS)]
            answers = await asyncio.gather(
                *(
                    (one if n % 2 else two).patch(f"/files/{file_id}", json={"title": title})
                    for n, title in enumerate(titles)
                )
            )
            assert [a.status_code for a in answers] == [200] * EDITS
            await asyncio.sleep(0.2)
            status = await _settled(two, file_id)
            assert status["embedding_status"] == "completed", status["embedding_error"]
            vectors, text = await _stored(settings, file_id)
            # one set: the summary, the title and the one chunk, never doubled by two writers
            assert sorted(part for part, _ in vectors) == ["chunk", "summary", "title"], vectors
            # and of the latest title, whichever edit landed last
            final = (await one.get(f"/files/{file_id}")).json()["title"]
            assert final in titles and text.startswith(final)
            summary = np.frombuffer(dict(vectors)["summary"], dtype="<f4")
            expected = np.array(endpoint.vector(text), dtype=np.float32)
            expected /= np.linalg.norm(expected)
            assert np.allclose(summary, expected, atol=1e-6), (round_number, final)
            title = np.frombuffer(dict(vectors)["title"], dtype="<f4")  # (the same title)
            expected = np.array(endpoint.vector(final), dtype=np.float32)
            assert np.allclose(title, expected / np.linalg.norm(expected), atol=1e-6)
