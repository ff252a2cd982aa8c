"""The work on files runs in child processes: capped, replaced when they die, retired when idle.

Issue 12 §3: a decoder that bloats or crashes (a 1 KB ICNS asked for 8 GB) must cost one file,
never the server; work past a job's time budget must stop; memory held by a burst of work must
go back to the OS once the queue drains.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

import work_support
from scopix_server.jobs.isolation import WorkProcesses, _CostBudget
from scopix_server.jobs.steps import work
from scopix_server.processing import StepError
from server_support import LiveServer, make_key, serving, wait_until_terminal_sync

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: its state in /proc says so
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
async def processes() -> AsyncIterator[WorkProcesses]:
    pool = WorkProcesses(size=1, memory_bytes=512 * MiB, decode_budget=64 * MiB)
    yield pool
    pool.close()


async def test_work_runs_in_another_process_and_errors_come_back_whole(
    processes: WorkProcesses,
) -> None:
    child = await processes.call(work_support.pid)
    assert child != os.getpid() and processes.running == 1
    assert await processes.call(work_support.pid) == child  # reused while it is warm
    with pytest.raises(StepError) as failed:
        await processes.call(work_support.fail, "the header lies", "validation")
    error = failed.value
    assert (error.message, error.error_type, error.step, error.retry_after) == (
        "the header lies",
        "validation",
        "decode",
        7.0,
    )
    with pytest.raises(StepError) as spent:  # a limit other than memory keeps its own words
        await processes.call(work_support.fail, "over its time budget", "resource_limit")
    assert spent.value.message == "over its time budget"


async def test_a_crash_fails_one_call_and_a_new_child_takes_over(
    processes: WorkProcesses,
) -> None:
    first = await processes.call(work_support.pid)
    with pytest.raises(StepError) as crashed:
        await processes.call(work_support.crash)
    assert crashed.value.error_type == "validation"
    assert "crashed the decoder" in crashed.value.message
    assert await _gone(first)
    second = await processes.call(work_support.pid)
    assert second not in (first, os.getpid())


async def test_memory_past_the_cap_fails_the_call_not_the_server(
    processes: WorkProcesses,
) -> None:
    with pytest.raises(StepError) as refused:
        await processes.call(work_support.hog, 1024 * MiB)  # twice the cap
    assert refused.value.error_type == "resource_limit"
    assert "512 MiB" in refused.value.message
    assert "SCOPIX_SERVER_JOB_MEMORY_BYTES" in refused.value.message
    assert await processes.call(work_support.hog, 64 * MiB) == 64 * MiB  # the child lives on


async def test_a_cancelled_call_kills_its_child(processes: WorkProcesses) -> None:
    child = await processes.call(work_support.pid)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(processes.call(work_support.sleep, 60), 0.5)
    assert await _gone(child)  # killed, not left working past the job's budget
    assert processes.running == 0
    assert await processes.call(work_support.pid) != child


async def test_an_idle_child_exits_and_gives_its_memory_back() -> None:
    pool = WorkProcesses(size=2, memory_bytes=512 * MiB, decode_budget=MiB, idle_seconds=0.4)
    try:
        children = await asyncio.gather(
            pool.call(work_support.sleep, 0.3), pool.call(work_support.sleep, 0.3)
        )
        assert len(set(children)) == 2 and pool.running == 2
        for child in children:
            assert await _gone(child, within=5)
        assert pool.running == 0
        assert await pool.call(work_support.pid) not in children  # started again when needed
    finally:
        pool.close()


async def test_a_child_is_replaced_after_its_share_of_calls() -> None:
    pool = WorkProcesses(size=1, memory_bytes=512 * MiB, decode_budget=MiB, tasks_per_child=3)
    try:
        pids = [await pool.call(work_support.pid) for _ in range(6)]
        assert len(set(pids[:3])) == 1 and len(set(pids[3:])) == 1 and pids[0] != pids[3]
    finally:
        pool.close()


async def test_decode_costs_share_one_budget() -> None:
    budget = _CostBudget(100)
    order: list[str] = []
    first = await budget.take(70)

    async def second() -> None:
        held = await budget.take(60)
        order.append("second ran")
        budget.give(held)

    waiting = asyncio.create_task(second())
    await asyncio.sleep(0.1)
    assert order == [] and budget.used == 70  # 70 + 60 is over 100: it waits
    budget.give(first)
    await asyncio.wait_for(waiting, 2)
    assert order == ["second ran"] and budget.used == 0
    assert await budget.take(10**9) == 100  # larger than the budget: runs alone


async def test_a_child_asks_for_its_turn_before_a_large_decode(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 2000), "teal").save(path, compress_level=1)  # decoded whole
    pool = WorkProcesses(size=1, memory_bytes=1024 * MiB, decode_budget=64 * MiB)
    try:
        held = await pool._costs.take(20 * MiB)  # another decode in flight
        decoding = asyncio.create_task(
            pool.call(
                work.image, path, 10**9, with_variants=False, with_ocr=False, describe_side=2048
            )
        )
        await asyncio.sleep(1.5)
        assert not decoding.done()  # waits: its cost (48 MB) does not fit beside
        pool._costs.give(held)
        done = await asyncio.wait_for(decoding, 30)
        assert (done.facts.width, done.facts.height) == (3000, 2000)
        assert max(done.image.size) <= 2048
        assert pool._costs.used == 0
    finally:
        pool.close()


async def test_an_image_whose_whole_decode_is_over_the_budget_is_refused_unread(
    tmp_path: Path,
) -> None:
    # formats other than JPEG and PNG are decoded at full size before they are reduced; QOI's
    # decoder is written in Python and holds a copy of its own (3 x 4 bytes a pixel)
    wide, qoi = tmp_path / "wide.webp", tmp_path / "wide.qoi"
    Image.new("RGB", (3000, 2000), "teal").save(wide, lossless=True)  # 2 x 24 MB
    Image.new("RGB", (2000, 1000), "teal").save(qoi)  # 3 x 8 MB
    pool = WorkProcesses(size=1, memory_bytes=1024 * MiB, decode_budget=20 * MiB)
    try:
        for path, cost in ((wide, 45), (qoi, 22)):
            with pytest.raises(StepError) as refused:
                await pool.call(
                    work.image, path, 10**9, with_variants=False, with_ocr=False, describe_side=512
                )
            error = refused.value
            assert (error.error_type, error.step) == ("resource_limit", "decode")
            assert f"about {cost} MiB" in error.message and "over the 20 MiB" in error.message
            assert "SCOPIX_SERVER_DECODE_MEMORY_BYTES" in error.message
            assert pool._costs.used == 0
        small = tmp_path / "small.qoi"
        Image.new("RGB", (1000, 1000), "teal").save(small)  # 3 x 4 MB: within it
        done = await pool.call(
            work.image, small, 10**9, with_variants=False, with_ocr=False, describe_side=512
        )
        assert (done.facts.width, done.facts.format) == (1000, "qoi")
    finally:
        pool.close()


async def test_one_call_may_take_its_turn_twice_and_gives_both_back(tmp_path: Path) -> None:
    path = tmp_path / "sign.png"
    sign = Image.new("RGB", (3000, 2000), "white")
    ImageDraw.Draw(sign).text((100, 900), "OPEN DAILY", fill="black", font_size=160)
    sign.save(path, compress_level=1)
    # the decode (48 MB) fits the budget; the OCR (about 240 MB) is larger: it runs alone
    pool = WorkProcesses(size=1, memory_bytes=1024 * MiB, decode_budget=64 * MiB)
    try:
        done = await asyncio.wait_for(
            pool.call(
                work.image, path, 10**9, with_variants=True, with_ocr=True, describe_side=2048
            ),
            120,
        )
        assert done.ocr is not None and "OPEN" in done.ocr.text
        assert done.variants is not None
        rendered, placeholder = done.variants
        assert set(rendered) >= {"small_256", "large_1024"} and placeholder
        assert pool._costs.used == 0  # the decode's and the OCR's costs were both given back
        again = await asyncio.wait_for(
            pool.call(
                work.image, path, 10**9, with_variants=False, with_ocr=False, describe_side=512
            ),
            60,
        )
        assert again.variants is None and again.ocr is None and pool._costs.used == 0
        assert max(again.image.size) == 512  # as large as the description providers take it
    finally:
        pool.close()


# --- through the server ---


def inflated_tiff(path: Path, width: int, height: int) -> None:
    """An RGB TIFF of ``width`` x ``height`` black pixels, deflated: a few hundred KB on disk."""
    squeeze = zlib.compressobj(9)
    row = bytes(3 * width)
    parts = [squeeze.compress(row) for _ in range(height)]
    strip = b"".join(parts) + squeeze.flush()
    entries = [  # (tag, type, count, value); type 3 SHORT, 4 LONG
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),  # bits per sample (one value stands for all three)
        (259, 3, 1, 8),  # deflate
        (262, 3, 1, 2),  # RGB
        (273, 4, 1, 8),  # the strip starts after the header
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, len(strip)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    header = b"II*\x00" + struct.pack("<I", 8 + len(strip))
    path.write_bytes(header + strip + ifd)


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # 300 MiB: under a 100 MP decode, and under the OCR engine once it has run (about 400 MiB
    # of data segment), so OCR is off: the file after the failure needs decoding and variants.
    # The decode budget lets the decode start (its estimate, 762 MiB, is within it): the cap
    # is what stops it.
    capped = serving(
        tmp_path_factory.mktemp("capped"),
        job_memory_bytes=300 * MiB,
        decode_memory_bytes=1024 * MiB,
        ocr_enabled=False,
    )
    with capped as server:
        yield server


def test_an_image_that_needs_more_than_the_cap_fails_alone(
    capped: LiveServer, tmp_path: Path
) -> None:
    bomb = tmp_path / "scan.tif"
    inflated_tiff(bomb, 10_000, 10_000)  # 100 MP under the pixel cap: 400 MB decoded
    assert bomb.stat().st_size < 2 * MiB
    key = make_key(capped.settings)
    with httpx.Client(
        base_url=capped.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        big = api.post("/files/upload", files={"file": ("scan.tif", bomb.read_bytes())})
        assert big.status_code == 201, big.text
        done = wait_until_terminal_sync(api, big.json()["image_id"], timeout=60)
        assert done["status"] == "failed"
        assert done["description_error_type"] == "resource_limit"
        assert "SCOPIX_SERVER_JOB_MEMORY_BYTES" in done["description_error"]
        # the server and the next file are unaffected
        small = tmp_path / "small.png"
        Image.new("RGB", (640, 480), "navy").save(small)
        fine = api.post("/files/upload", files={"file": ("small.png", small.read_bytes())})
        after = wait_until_terminal_sync(api, fine.json()["image_id"], timeout=60)
        assert after["status"] == "completed", after
        assert api.get("/files").status_code == 200
