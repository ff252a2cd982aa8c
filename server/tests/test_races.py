"""Check-then-act races, fired with real concurrent requests at two server instances that share
one database and one storage folder (as two processes would), on SQLite and on PostgreSQL.

Each race is run several rounds: nothing may be lost, nothing doubled, and the limits hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from scopix_server import Settings
from scopix_server.db.models import (
    File,
    IdempotencyRecord,
    Job,
    ObjectClaim,
    UsageCounter,
    utcnow,
)
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.services import idempotency, objects
from scopix_server.services.retention import purge
from scopix_server.storage import open_storage
from server_support import LiveServer, make_key, png_bytes, start_postgres, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

ROUNDS = 6


@dataclass
class Pair:
    """Two servers over one database and one storage folder."""

    settings: Settings
    servers: tuple[LiveServer, LiveServer]

    def key(self, *, tier: str = "custom", admin: bool = False) -> str:
        return make_key(self.settings, tier=tier, admin=admin)

    @asynccontextmanager
    async def clients(self, key: str) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=64)
        async with (
            httpx.AsyncClient(
                base_url=self.servers[0].base_url, headers=headers, timeout=60, limits=limits
            ) as first,
            httpx.AsyncClient(
                base_url=self.servers[1].base_url, headers=headers, timeout=60, limits=limits
            ) as second,
        ):
            yield first, second

    async def queued(self, file_id: str, kind: str) -> int:
        """Jobs of ``kind`` queued for the file, on either engine (no worker runs them here)."""
        if self.settings.resolved_job_queue == "embedded":
            counted = await self.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.file_id == file_id, Job.kind == kind)
            )
        else:
            counted = await self.scalar(
                select(func.count())
                .select_from(text("procrastinate_jobs"))
                .where(
                    text("args->>'file_id' = :file_id AND args->>'kind' = :kind").bindparams(
                        file_id=file_id, kind=kind
                    )
                )
            )
        return int(counted)

    async def scalar(self, statement: Any) -> Any:
        engine = create_engine(self.settings.resolved_database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await session.scalar(statement)
        finally:
            await engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp(f"races-{request.param}")
    postgres = None
    options: dict[str, Any] = {}
    if request.param == "postgres":
        try:
            postgres = start_postgres()
        except RuntimeError as error:
            pytest.fail(str(error))
        options["database_url"] = postgres.url
    # (free-tier keys may send 10 requests a second here instead of a minute)
    settings = Settings(
        data_dir=workdir / "data", workers=0, rate_limit_period_seconds=1, **options
    )
    first = start_server(settings)
    second = start_server(settings)
    try:
        yield Pair(settings, (first, second))
    finally:
        first.stop()
        second.stop()
        if postgres is not None:
            postgres.stop()


def note(text: str) -> bytes:
    return f"# Note {text}\n\nA plain text note, unique to this round.\n".encode()


async def _upload(
    client: httpx.AsyncClient, content: bytes, name: str, *, key: str | None = None, **fields: str
) -> httpx.Response:
    return await _post(
        client,
        "/files/upload",
        files={"file": (name, content)},
        data=fields,
        headers={"Idempotency-Key": key} if key else {},
    )


async def _post(client: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    """POST, waiting out rate limits (429) as a client would: the races are about the rest."""
    while True:
        answer = await client.post(path, **kwargs)
        if answer.status_code != 429:
            return answer
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))


async def test_a_refused_duplicate_never_deletes_the_bytes_of_an_accepted_upload(
    pair: Pair,
) -> None:
    """An upload and concurrent /images/analyze calls of the same new bytes (refused: a text
    note is no image) share one content-addressed object; the refusals must not delete it."""
    async with pair.clients(pair.key()) as (first, second):
        for round_ in range(ROUNDS * 2):
            content = note(f"{round_}-{uuid.uuid4()}")
            answers = await asyncio.gather(
                _upload(first, content, "note.md"),
                *(
                    client.post("/images/analyze", files={"file": ("note.md", content)})
                    for client in (second, first, second)
                ),
            )
            assert answers[0].status_code == 201, answers[0].text
            assert [a.status_code for a in answers[1:]] == [415, 415, 415]
            file_id = answers[0].json()["image_id"]
            download = await first.get(f"/files/{file_id}/download")
            assert download.status_code == 200, f"round {round_}: {download.text}"
            assert download.content == content
    live_claims = select(func.count()).select_from(ObjectClaim).where(ObjectClaim.claims > 0)
    assert await pair.scalar(live_claims) == 0  # (every request let go of its objects)


async def test_a_refusal_alone_still_removes_its_bytes(pair: Pair) -> None:
    async with pair.clients(pair.key()) as (first, second):
        content = note(str(uuid.uuid4()))
        answers = await asyncio.gather(
            first.post("/images/analyze", files={"file": ("a.md", content)}),
            second.post("/images/analyze", files={"file": ("b.md", content)}),
        )
        assert [a.status_code for a in answers] == [415, 415]
    digest = hashlib.sha256(content).hexdigest()
    assert not list((pair.settings.data_dir / "storage").rglob(digest))


async def test_one_idempotency_key_stores_one_file(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for round_ in range(ROUNDS):
            content = png_bytes(5, 5, (round_, 10, 20))
            key = f"upload-{uuid.uuid4()}"
            answers = await asyncio.gather(
                *(_upload(clients[i % 2], content, "p.png", key=key) for i in range(10))
            )
            codes = Counter(a.status_code for a in answers)
            assert set(codes) <= {201, 409}, [a.text for a in answers]
            ids = {a.json()["image_id"] for a in answers if a.status_code == 201}
            assert len(ids) == 1, f"round {round_}: {len(ids)} files for one key"
            digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
            stored = await pair.scalar(
                select(func.count()).select_from(File).where(File.content_hash == digest)
            )
            assert stored == 1


async def test_one_idempotency_key_starts_one_direct_upload(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for _ in range(ROUNDS):
            key = f"start-{uuid.uuid4()}"
            body = {"filename": "big.bin", "size_bytes": 10 * 1024 * 1024}
            answers = await asyncio.gather(
                *(
                    clients[i % 2].post(
                        "/files/direct-uploads", json=body, headers={"Idempotency-Key": key}
                    )
                    for i in range(10)
                )
            )
            assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
            assert len({a.json()["upload_id"] for a in answers}) == 1


async def test_one_idempotency_key_deletes_once_and_answers_alike(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for round_ in range(ROUNDS):
            made = [
                (await _upload(clients[0], png_bytes(3, 3, (round_, i, 1)), "x.png")).json()
                for i in range(3)
            ]
            ids = [m["image_id"] for m in made]
            key = f"delete-{uuid.uuid4()}"
            answers = await asyncio.gather(
                *(
                    clients[i % 2].post(
                        "/files/batch-delete",
                        json={"file_ids": ids},
                        headers={"Idempotency-Key": key},
                    )
                    for i in range(10)
                )
            )
            assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
            bodies = [a.json() for a in answers]
            assert all(b == bodies[0] for b in bodies)
            assert [d["id"] for d in bodies[0]["deleted"]] == ids


async def test_concurrent_deletes_without_a_key_delete_each_file_once(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        made = (await _upload(clients[0], png_bytes(6, 2), "x.png")).json()
        answers = await asyncio.gather(
            *(
                clients[i % 2].post("/files/batch-delete", json={"file_ids": [made["image_id"]]})
                for i in range(6)
            )
        )
        assert {a.status_code for a in answers} == {200}
        deleted = [len(a.json()["deleted"]) for a in answers]
        assert sum(deleted) == 1


async def test_skip_duplicates_stores_identical_bytes_once(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for round_ in range(ROUNDS):
            content = png_bytes(7, 7, (round_, 99, 3))
            answers = await asyncio.gather(
                *(
                    _upload(clients[i % 2], content, f"{i}.png", skip_duplicates="true")
                    for i in range(20)
                )
            )
            assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
            digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
            stored = await pair.scalar(
                select(func.count()).select_from(File).where(File.content_hash == digest)
            )
            assert stored == 1, f"round {round_}: {stored} rows for one content"
            assert len({a.json()["image_id"] for a in answers}) == 1
            assert sum(1 for a in answers if a.json()["skipped"]) == 19


async def test_skip_duplicates_in_concurrent_batches(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for round_ in range(ROUNDS // 2):
            contents = [png_bytes(4, 4, (round_, i, 77)) for i in range(4)]

            def batch(
                order: list[int], contents: list[bytes] = contents
            ) -> list[tuple[str, tuple[str, bytes]]]:
                return [("files", (f"{i}.png", contents[i])) for i in order]

            answers = await asyncio.gather(
                clients[0].post(
                    "/files/upload/batch",
                    files=batch([0, 1, 2, 3]),
                    data={"skip_duplicates": "true"},
                ),
                clients[1].post(
                    "/files/upload/batch",
                    files=batch([3, 2, 1, 0]),  # (the other order: locks must not deadlock)
                    data={"skip_duplicates": "true"},
                ),
            )
            assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
            for content in contents:
                digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
                stored = await pair.scalar(
                    select(func.count()).select_from(File).where(File.content_hash == digest)
                )
                assert stored == 1


async def test_concurrent_batches_cannot_pass_the_monthly_quota(pair: Pair) -> None:
    for round_ in range(ROUNDS // 2):
        key = pair.key(tier="free")  # 10 uploads a month, batches of 10
        async with pair.clients(key) as (first, second):
            batches = [
                [("files", (f"{i}.png", png_bytes(2, 2, (round_, side, i)))) for i in range(6)]
                for side in range(2)
            ]
            answers = await asyncio.gather(
                _post(first, "/files/upload/batch", files=batches[0]),
                _post(second, "/files/upload/batch", files=batches[1]),
            )
            assert sorted(a.status_code for a in answers) == [201, 403], [a.text for a in answers]
            refused = next(a for a in answers if a.status_code == 403).json()
            assert refused["error"]["code"] == "QUOTA_EXCEEDED"
            quota = (await first.get("/uploads/quota-check", params={"file_count": 1})).json()
            assert quota["current_usage"] == 6
        used = await pair.scalar(select(func.sum(UsageCounter.uploads)))
        assert used is not None


async def test_concurrent_single_uploads_stop_at_the_quota(pair: Pair) -> None:
    key = pair.key(tier="free")
    async with pair.clients(key) as clients:
        answers = await asyncio.gather(
            *(_upload(clients[i % 2], png_bytes(3, 1, (i, 1, 1)), "q.png") for i in range(14))
        )
        codes = Counter(a.status_code for a in answers)
        assert codes[201] == 10 and codes[403] == 4, codes
        quota = (await clients[0].get("/uploads/quota-check", params={"file_count": 1})).json()
        assert quota["current_usage"] == 10


async def test_concurrent_describe_queues_one_job(pair: Pair) -> None:
    async with pair.clients(pair.key()) as clients:
        for round_ in range(ROUNDS):
            made = (
                await _upload(
                    clients[0], png_bytes(2, 5, (round_, 5, 5)), "d.png", auto_describe="false"
                )
            ).json()
            file_id = made["image_id"]
            answers = await asyncio.gather(
                *(clients[i % 2].post(f"/files/{file_id}/describe") for i in range(6))
            )
            codes = Counter(a.status_code for a in answers)
            assert codes[202] == 1 and codes[409] == 5, [a.text for a in answers]
            assert await pair.queued(file_id, "describe") == 1


async def test_a_failed_request_gives_its_idempotency_key_up(pair: Pair) -> None:
    async with pair.clients(pair.key()) as (first, _):
        key = f"fails-{uuid.uuid4()}"
        refused = await _upload(first, b"\x7fELF" + b"\x00" * 60, "x.bin", key=key)
        assert refused.status_code == 415
        assert (
            await pair.scalar(
                select(func.count())
                .select_from(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
            )
            == 0
        )
        # the same key may be used again, e.g. for the corrected request
        fine = await _upload(first, png_bytes(9, 9), "x.png", key=key)
        assert fine.status_code == 201


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
async def test_the_purge_leaves_an_object_that_a_request_has_claimed(pair: Pair) -> None:
    """A deleted file's bytes, about to be recorded again by an upload in flight (its claim),
    survive the purge; once the request lets go with no row, they go."""
    content = note(f"purge-{uuid.uuid4()}")
    async with pair.clients(pair.key()) as (first, _):
        made = (await _upload(first, content, "gone.md")).json()
        assert (await first.delete(f"/files/{made['image_id']}")).status_code == 200
    object_key = made["object_key"] or await pair.scalar(
        select(File.object_key).where(File.id == made["image_id"])
    )
    path = pair.settings.data_dir / "storage" / "objects" / object_key
    assert path.is_file()

    engine = create_engine(pair.settings.resolved_database_url)
    sessions = create_sessionmaker(engine)
    storage = open_storage(pair.settings.resolved_storage_url, pair.settings)
    try:
        await objects.claim(sessions, [object_key])  # (a request with the same bytes)
        later = utcnow() + timedelta(days=pair.settings.retention_days + 1)
        report = await purge(
            sessions, storage, retention_days=pair.settings.retention_days, now=later
        )
        assert report.files >= 1
        assert path.is_file(), "the purge deleted an object that a request had claimed"
        assert await objects.release(sessions, storage, [object_key]) == 1
        assert not path.exists()
    finally:
        await engine.dispose()


async def test_a_key_held_by_a_request_that_died_is_taken_over(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim with no answer (its server died mid-request) stops blocking the key once stale;
    one that is still fresh makes a repeat wait, then answer 409 with Retry-After."""
    monkeypatch.setattr(idempotency, "IN_FLIGHT_WAIT", 1.0)  # (the servers run in this process)
    key = pair.key()
    engine = create_engine(pair.settings.resolved_database_url)
    try:
        async with pair.clients(key) as (first, _):
            made = await _upload(first, png_bytes(2, 9), "mine.png")
            tenant_id = await pair.scalar(
                select(File.tenant_id).where(File.id == made.json()["image_id"])
            )
            content = png_bytes(3, 9, (1, 2, 3))
            print_ = idempotency.fingerprint(
                "files.upload", {}, [f"{hashlib.sha256(content).hexdigest()}:False"]
            )
            for age, expected in ((timedelta(hours=1), 201), (timedelta(seconds=1), 409)):
                idem = f"dead-{uuid.uuid4()}"
                async with create_sessionmaker(engine)() as session:
                    session.add(
                        IdempotencyRecord(
                            tenant_id=tenant_id,
                            key=idem,
                            fingerprint=print_,  # (the same request, never answered)
                            owner=str(uuid.uuid4()),
                            created_at=utcnow() - age,
                        )
                    )
                    await session.commit()
                answer = await _upload(first, content, "again.png", key=idem)
                assert answer.status_code == expected, answer.text
                if expected == 409:
                    assert answer.json()["error"]["details"]["state"] == "in_progress"
                    assert answer.headers["retry-after"]
    finally:
        await engine.dispose()
