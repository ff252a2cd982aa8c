"""The job queue and the pipeline's retry rules, on a real SQLite database and real storage."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media_support import encode, text_image
from scopix_server import Settings
from scopix_server.db.migrate import upgrade
from scopix_server.db.models import File, Job
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.jobs import (
    ClaimedJob,
    DatabaseQueue,
    Outcome,
    Pipeline,
    WorkerPool,
)
from scopix_server.jobs.isolation import WorkProcesses
from scopix_server.jobs.steps.documents import chunk_pages
from scopix_server.jobs.steps.ocr import reading_order
from scopix_server.processing import StepError
from scopix_server.providers import BasicProvider, DescribeInput, Description
from scopix_server.services.tenants import get_or_create_tenant
from scopix_server.storage import LocalStorage

MiB = 1024 * 1024

pytestmark = pytest.mark.anyio


@dataclass
class World:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    storage: LocalStorage
    tenant_id: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        data_dir=tmp_path, job_retry_delay_seconds=0.05, ocr_enabled=False, vision_enabled=False
    )
    engine = create_engine(settings.resolved_database_url)
    await upgrade(engine)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        tenant = await get_or_create_tenant(session, "jobs", tier=None, default_tier="custom")
        await session.commit()
    yield World(settings, sessions, LocalStorage(tmp_path / "storage"), tenant.id)
    await engine.dispose()


async def add_file(world: World, queue: DatabaseQueue) -> str:
    image, _ = text_image([("HELLO", 40, 40)], size=(320, 200), font_size=30)
    pending = world.storage.begin(world.tenant_id)
    data = encode(image)
    pending.write(data)
    key = await pending.commit()
    async with world.sessions() as session:
        row = File(
            tenant_id=world.tenant_id,
            filename="a.jpg",
            media_type="image",
            content_type="image/jpeg",
            format="jpeg",
            size_bytes=len(data),
            content_hash="sha256:" + key.rsplit("/", 1)[1],
            object_key=key,
            description_status="queued",
        )
        session.add(row)
        await session.flush()
        await queue.enqueue(session, tenant_id=world.tenant_id, file_id=row.id, kind="process")
        await session.commit()
        return row.id


async def test_claims_are_exclusive_and_leases_expire(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=0.3)
    first_file = await add_file(world, queue)
    second_file = await add_file(world, queue)
    a = await queue.claim("worker-a")
    b = await queue.claim("worker-b")
    assert a and b and {a.file_id, b.file_id} == {first_file, second_file}
    assert await queue.claim("worker-c") is None  # both are leased
    assert await queue.renew(a, "worker-a") is True
    assert await queue.renew(a, "worker-b") is False  # not b's job
    await anyio.sleep(0.4)  # b's lease (and a's renewed one) run out: their workers "died"
    taken = {job.file_id: job for job in [await queue.claim("worker-c"), await queue.claim("c")]}
    assert set(taken) == {first_file, second_file}
    assert all(job.attempts == 2 for job in taken.values())
    assert await queue.renew(a, "worker-a") is False  # the lease moved on
    await queue.finish(a, "worker-a")  # a late answer from the dead worker changes nothing
    async with world.sessions() as session:
        states = set(await session.scalars(select(Job.state)))
    assert states == {"running"}


async def test_retry_waits_and_release_does_not_count(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    await add_file(world, queue)
    job = await queue.claim("w")
    assert job is not None and job.attempts == 1
    await queue.retry(job, "w", error="rate limited", delay=0.3)
    assert await queue.claim("w") is None  # not due yet
    await anyio.sleep(0.35)
    again = await queue.claim("w")
    assert again is not None and again.attempts == 2
    await queue.release(again, "w")  # stopping: the attempt is handed back
    last = await queue.claim("w")
    assert last is not None and last.attempts == 2
    await queue.finish(last, "w")
    assert await queue.claim("w") is None


async def test_waiting_clients_go_before_the_backlog(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    backlog = [await add_file(world, queue) for _ in range(2)]
    async with world.sessions() as session:
        await queue.enqueue(
            session, tenant_id=world.tenant_id, file_id=backlog[0], kind="describe", priority=1
        )
        await session.commit()
    first = await queue.claim("w")
    assert first is not None and (first.file_id, first.kind) == (backlog[0], "describe")
    rest = [await queue.claim("w") for _ in range(2)]
    assert [job.file_id for job in rest if job] == backlog  # then oldest first


class FlakyProvider:
    """Fails with ``error_type`` ``failures`` times, then answers like the basic provider."""

    name = "flaky"

    def __init__(self, failures: int, error_type: str = "rate_limit") -> None:
        self.failures = failures
        self.error_type = error_type
        self.calls = 0
        self.items: list[DescribeInput] = []

    async def describe(self, item: DescribeInput) -> Description:
        self.calls += 1
        self.items.append(item)
        if self.calls <= self.failures:
            raise StepError("the model said slow down", self.error_type)
        return await BasicProvider().describe(item)


def make_pipeline(
    world: World, queue: DatabaseQueue, provider: FlakyProvider
) -> tuple[Pipeline, WorkProcesses]:
    """The pipeline of one worker (its work processes: closed by the caller)."""
    processes = WorkProcesses(size=1, memory_bytes=MiB * 1024, decode_budget=MiB * 256)
    pipeline = Pipeline(
        sessions=world.sessions,
        storage=world.storage,
        settings=world.settings,
        providers=[provider],
        threads=anyio.CapacityLimiter(1),
        work=processes,
        queue=queue,
    )
    return pipeline, processes


async def run_until_idle(world: World, queue: DatabaseQueue, provider: FlakyProvider) -> None:
    pipeline, processes = make_pipeline(world, queue, provider)
    pool = WorkerPool(queue, pipeline.run, size=1, lease_seconds=30, poll_seconds=0.02)
    pool.start()
    try:
        with anyio.fail_after(30):
            while True:
                async with world.sessions() as session:
                    open_jobs = await session.scalar(
                        select(Job.id).where(Job.state.in_(["queued", "running"]))
                    )
                if open_jobs is None:
                    break
                await asyncio.sleep(0.02)
    finally:
        await pool.stop()
        processes.close()


async def file_row(world: World, file_id: str) -> File:
    async with world.sessions() as session:
        row = await session.get(File, file_id)
        assert row is not None
        return row


async def test_retryable_failures_are_retried_then_succeed(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    file_id = await add_file(world, queue)
    provider = FlakyProvider(failures=2)
    await run_until_idle(world, queue, provider)
    row = await file_row(world, file_id)
    assert provider.calls == 3
    assert row.description_status == "completed" and row.status == "completed"
    assert row.description_error is None and row.description_is_retryable is None
    assert row.variant_status == "completed"  # made once, not redone by the retries


async def test_retryable_failures_give_up_after_max_attempts(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30, max_attempts=2)
    file_id = await add_file(world, queue)
    provider = FlakyProvider(failures=99, error_type="timeout")
    await run_until_idle(world, queue, provider)
    row = await file_row(world, file_id)
    assert provider.calls == 2
    assert row.description_status == "failed" and row.description_error_type == "timeout"
    assert row.description_is_retryable is True  # the user may ask again later
    assert row.status == "completed"  # the file itself is fine: variants were made
    async with world.sessions() as session:
        jobs = {j.kind: j for j in await session.scalars(select(Job).where(Job.file_id == file_id))}
    # decoding, variants and text ran once, apart; the description's job failed on its own
    assert jobs["process"].state == "done" and jobs["process"].attempts == 1
    failed = jobs["describe"]
    assert failed.state == "failed" and "slow down" in (failed.last_error or "")


async def test_the_description_is_a_job_of_its_own_on_what_processing_stored(
    world: World,
) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    file_id = await add_file(world, queue)
    provider = FlakyProvider(failures=0)
    await run_until_idle(world, queue, provider)
    async with world.sessions() as session:
        kinds = [(j.kind, j.state) for j in await session.scalars(select(Job).order_by(Job.id))]
    assert sorted(kinds) == [("describe", "done"), ("process", "done")]
    item = provider.items[0]  # from the stored variant, with the facts decoding found
    assert item.facts is not None and (item.facts.width, item.facts.height) == (320, 200)
    assert item.facts.format == "jpeg" and item.facts.frames == 1
    assert item.image is not None and item.image.size == (320, 200)
    assert item.visible_text == ""  # (OCR is off in these tests)
    # a file processed before the facts were kept: its original is decoded again
    async with world.sessions() as session:
        row = await session.get(File, file_id)
        assert row is not None and row.image_facts is not None
        row.image_facts = None
        row.description_status = "queued"
        await queue.enqueue(session, tenant_id=world.tenant_id, file_id=file_id, kind="describe")
        await session.commit()
    await run_until_idle(world, queue, provider)
    again = provider.items[1]
    assert again.facts == item.facts and again.image is not None
    assert again.image.size == (320, 200) and again.visible_text == item.visible_text
    assert (await file_row(world, file_id)).image_facts == item.facts.to_json()


async def test_permanent_failures_are_not_retried(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    file_id = await add_file(world, queue)
    provider = FlakyProvider(failures=99, error_type="validation")
    await run_until_idle(world, queue, provider)
    row = await file_row(world, file_id)
    assert provider.calls == 1 and row.description_status == "failed"
    assert row.description_is_retryable is False


async def test_a_job_that_keeps_killing_its_worker_ends_failed(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=0.05, max_attempts=2)
    file_id = await add_file(world, queue)
    for _ in range(2):  # two workers claim it and "die" (the lease runs out)
        assert await queue.claim("doomed") is not None
        await anyio.sleep(0.1)
    await run_until_idle(world, queue, FlakyProvider(failures=0))
    row = await file_row(world, file_id)
    assert row.description_status == "failed" and row.description_error_type == "unknown"
    assert "crashed or was killed" in (row.description_error or "")


async def test_a_job_run_again_after_its_work_was_recorded_does_nothing_twice(
    world: World,
) -> None:
    """A worker dies after a job's last commit but before the job is marked done: its lease
    runs out and the job runs again. The process job queues no second describe job, and the
    describe job asks no provider again."""
    queue = DatabaseQueue(world.sessions, lease_seconds=0.05)
    file_id = await add_file(world, queue)
    provider = FlakyProvider(failures=0)
    pipeline, processes = make_pipeline(world, queue, provider)
    try:
        for kind in ("process", "describe"):
            for attempt in (1, 2):  # the first worker "dies" before it records the end
                job = await queue.claim(f"worker-{kind}-{attempt}")
                assert job is not None and (job.kind, job.attempts) == (kind, attempt)
                assert await pipeline.run(job) == Outcome()
                if attempt == 1:
                    await anyio.sleep(0.1)  # (its lease runs out)
                else:
                    await queue.finish(job, f"worker-{kind}-{attempt}")
        assert await queue.claim("last") is None
    finally:
        processes.close()
    async with world.sessions() as session:
        jobs = [(j.kind, j.state) for j in await session.scalars(select(Job))]
    assert sorted(jobs) == [("describe", "done"), ("process", "done")]
    assert provider.calls == 1
    row = await file_row(world, file_id)
    assert row.status == "completed" and row.description_status == "completed"
    assert row.handed_over_at is not None


async def test_a_worker_survives_a_job_that_raises(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    first = await add_file(world, queue)
    second = await add_file(world, queue)
    seen: list[str] = []

    async def run(job: ClaimedJob) -> Outcome:
        seen.append(job.file_id)
        if job.file_id == first:
            raise RuntimeError("database went away")
        return Outcome()

    async def states() -> dict[str, str]:
        async with world.sessions() as session:
            return {job.file_id: job.state for job in await session.scalars(select(Job))}

    pool = WorkerPool(queue, run, size=1, lease_seconds=30, poll_seconds=0.02)
    pool.start()
    try:
        with anyio.fail_after(10):
            while (await states()).get(second) != "done":
                await asyncio.sleep(0.02)
    finally:
        await pool.stop()
    assert seen == [first, second]
    assert await states() == {first: "running", second: "done"}  # the first waits for its lease


class SlowToFinish(DatabaseQueue):
    """A queue whose record of a finished job takes a while, as on a busy database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording = asyncio.Event()

    async def finish(self, job: ClaimedJob, worker_id: str, *, failed: str | None = None) -> None:
        self.recording.set()
        await asyncio.sleep(0.2)
        await super().finish(job, worker_id, failed=failed)


async def test_stopping_waits_for_a_finished_job_to_be_recorded(world: World) -> None:
    queue = SlowToFinish(world.sessions, lease_seconds=30)
    file_id = await add_file(world, queue)

    async def run(job: ClaimedJob) -> Outcome:
        return Outcome()

    pool = WorkerPool(queue, run, size=1, lease_seconds=30, poll_seconds=0.02)
    pool.start()
    try:
        with anyio.fail_after(10):
            await queue.recording.wait()
    finally:
        await pool.stop()  # while the outcome is being written
    async with world.sessions() as session:
        job = await session.scalar(select(Job).where(Job.file_id == file_id))
    assert job is not None and job.state == "done"  # not left to run again after its lease


async def test_the_retry_reason_is_kept_on_the_job(world: World) -> None:
    queue = DatabaseQueue(world.sessions, lease_seconds=30)
    file_id = await add_file(world, queue)
    await run_until_idle(world, queue, FlakyProvider(failures=1))
    async with world.sessions() as session:
        job = await session.scalar(
            select(Job).where(Job.file_id == file_id, Job.kind == "describe")
        )
    assert job is not None and job.state == "done" and job.attempts == 2
    assert "slow down" in (job.last_error or "")


def test_reading_order_groups_lines() -> None:
    def region(text: str, x: float, y: float) -> dict[str, object]:
        return {"text": text, "bbox": {"x": x, "y": y, "width": 0.1, "height": 0.05}}

    regions = [region("b", 0.5, 0.102), region("c", 0.1, 0.3), region("a", 0.1, 0.1)]
    lines = reading_order(regions)  # type: ignore[arg-type]
    assert [[r["text"] for r in line] for line in lines] == [["a", "b"], ["c"]]


def test_chunks_overlap_and_know_their_pages() -> None:
    pages = [" ".join(f"p1w{i}" for i in range(300)), " ".join(f"p2w{i}" for i in range(300))]
    chunks = chunk_pages(pages, size=1000, overlap=150)
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert all(len(c["text"]) <= 1000 for c in chunks)
    assert chunks[0]["page_numbers"] == [1] and chunks[-1]["page_numbers"] == [2]
    assert any(c["page_numbers"] == [1, 2] for c in chunks)  # one spans the page break
    for before, after in itertools.pairwise(chunks):  # neighbours share words
        assert set(before["text"].split()[-5:]) & set(after["text"].split()[:30])
    words = {w for c in chunks for w in c["text"].split()}
    assert words == set(pages[0].split()) | set(pages[1].split())  # nothing lost


def test_files_stored_before_the_pipeline_get_their_job(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from scopix_server.db.migrate import alembic_config

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(
            sa.text(
                "INSERT INTO tenants (id, name, tier, created_at) VALUES ('t1', 'old', 'custom', "
                "'2026-01-01 00:00:00')"
            )
        )
        for file_id, status in [("f-waiting", "processing"), ("f-done", "completed")]:
            connection.execute(
                sa.text(
                    "INSERT INTO files (id, tenant_id, filename, tags, media_type, content_type, "
                    "size_bytes, content_hash, object_key, status, content_category, "
                    "description_status, variant_status, created_at, updated_at) VALUES "
                    "(:id, 't1', 'a.png', '[]', 'image', 'image/png', 1, 'sha256:x', 'k', "
                    ":status, 'general', 'pending', 'pending', '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00')"
                ),
                {"id": file_id, "status": status},
            )
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
        jobs = connection.execute(sa.text("SELECT file_id, state, kind FROM jobs")).all()
        waiting = connection.execute(
            sa.text("SELECT description_status FROM files WHERE id = 'f-waiting'")
        ).scalar()
        indexing = dict(connection.execute(sa.text("SELECT id, embedding_status FROM files")).all())
    engine.dispose()
    # 0002 queues the pipeline of the file still processing; 0009 the indexing of the done one
    assert sorted(tuple(job) for job in jobs) == [
        ("f-done", "queued", "embed"),
        ("f-waiting", "queued", "process"),
    ]
    assert waiting == "queued"
    assert indexing == {"f-done": "queued", "f-waiting": "pending"}  # (its pipeline queues it)
