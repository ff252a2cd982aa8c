"""Direct uploads in the SDK: routing by size, parallel parts, retries of one part, resume."""

from __future__ import annotations

import gc
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from scopix import ClientConfig, Scopix, TransferConfig, UploadError, ValidationError
from sdk_support import BASE_URL, VALID_KEY, error_body, json_response

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
PART = 5 * MiB


class FakeAPI:
    """Just enough of the API for direct uploads: start, part PUTs, state, complete."""

    def __init__(self, *, fail_once: set[int] | None = None, received: set[int] | None = None):
        self.parts: dict[int, bytes] = {}
        self.puts: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_once = set(fail_once or ())
        self.preloaded = set(received or ())
        self.started: dict[str, Any] | None = None
        self.completed: dict[str, Any] | None = None
        self.streamed = 0
        self.state = "pending"
        self.busy = 0  # how many completes answer 409 completing first
        self.streaming_limit: int | None = None
        self.keep = True  # keep the parts (False: only count them)
        self.complete_timeouts: list[Any] = []

    def plan(self, size: int) -> dict[str, Any]:
        count = -(-size // PART)
        return {
            "upload_id": "up-1",
            "image_id": "img-1",
            "object_key": None,
            "deduplicated": False,
            "method": "multipart",
            "part_size": PART,
            "parts": [
                {"part_number": n, "upload_url": f"https://bucket.test/up-1?partNumber={n}"}
                for n in range(1, count + 1)
            ],
        }

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "PUT":
            number = int(request.url.params["partNumber"])
            assert "Authorization" not in request.headers  # never sent to the storage
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                body = await request.aread()
                await anyio.sleep(0.01 if self.keep else 0.05)  # (slow: parts would pile up)
            finally:
                self.in_flight -= 1
            self.puts.append(number)
            if number in self.fail_once:
                self.fail_once.discard(number)
                return httpx.Response(503, text="<Error>SlowDown</Error>")
            self.parts[number] = body if self.keep else b""
            if not self.keep:  # (MockTransport buffers each body in its request: let them go)
                del body, request
                gc.collect()
            return httpx.Response(200, headers={"ETag": f'"{number}"'})
        if path.endswith("/uploads/quota-check"):
            return json_response(
                200,
                {"can_proceed": True, "requested": 2, "available": 100, "monthly_limit": 100,
                 "current_usage": 0},
            )  # fmt: skip
        if path.endswith("/files/upload/batch"):
            self.streamed += 1
            return json_response(
                201,
                {"session_id": "s-1", "results": [
                    {"image_id": "small", "filename": "s", "status": "processing"}]},
            )  # fmt: skip
        if path.endswith("/files/upload"):
            self.streamed += 1
            if self.streaming_limit is not None and len(request.content) > self.streaming_limit:
                return json_response(413, error_body("FILE_TOO_LARGE", "over the limit"))
            return json_response(
                201, {"image_id": "small", "filename": "s", "status": "processing"}
            )
        if path.endswith("/files/direct-uploads"):
            self.started = json.loads(request.content)
            return json_response(201, self.plan(self.started["size_bytes"]))
        if path.endswith("/complete"):
            self.complete_timeouts.append(request.extensions.get("timeout", {}).get("read"))
            if self.busy:
                self.busy -= 1
                return json_response(
                    409, error_body("CONFLICT", "being completed", state="completing")
                )
            self.completed = json.loads(request.content)
            return json_response(
                200,
                {
                    "image_id": "img-1",
                    "filename": "big.bin",
                    "media_type": "image",
                    "status": "processing",
                    "object_key": "direct/up-1",
                    "deduplicated": False,
                    "description_status": "queued",
                },
            )
        if path.endswith("/direct-uploads/up-1"):
            assert self.started is not None
            plan = self.plan(self.started["size_bytes"])
            plan["parts"] = [p for p in plan["parts"] if p["part_number"] not in self.preloaded]
            return json_response(
                200,
                {
                    **plan,
                    "state": self.state,
                    "size_bytes": self.started["size_bytes"],
                    "received_parts": sorted(self.preloaded),
                },
            )
        return json_response(404, error_body("NOT_FOUND", path))


def client_for(api: FakeAPI) -> Scopix:
    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL, retry_delay=0.01)
    return Scopix.from_config(config, transport=httpx.MockTransport(api))


def data_of(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


async def test_large_files_go_direct_in_parallel_parts_with_bounded_memory(
    tmp_path: Path,
) -> None:
    api = FakeAPI()
    data = data_of(4 * PART + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    events: list[int] = []
    transfer = TransferConfig(direct_threshold=MiB, concurrency=2, state_dir=tmp_path)
    async with client_for(api) as client:
        result = await client.files.upload(
            path,
            transfer=transfer,
            tags=["a", "b"],
            on_progress=lambda e: events.append(e.uploaded_bytes),
        )
    assert b"".join(api.parts[n] for n in sorted(api.parts)) == data
    assert sorted(api.puts) == [1, 2, 3, 4, 5] and api.most_in_flight == 2
    assert api.started is not None and api.started["tags"] == ["a", "b"]
    assert "content_hash" not in api.started  # (learnt while sending: given at complete)
    assert api.completed is not None
    assert api.completed["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert [p["part_number"] for p in api.completed["parts"]] == [1, 2, 3, 4, 5]
    assert result.deduplicated is False and result.object_key == "direct/up-1"
    assert result.media_type == "image" and result.status == "processing"
    assert events[-1] == len(data) and api.streamed == 0


async def test_small_files_and_unknown_sizes_are_streamed() -> None:
    api = FakeAPI()

    class Pipe(io.RawIOBase):  # not seekable: its size is unknown
        def __init__(self) -> None:
            self.left = 3 * MiB

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            count = min(len(buffer), self.left)
            buffer[:count] = b"p" * count
            self.left -= count
            return count

    transfer = TransferConfig(direct_threshold=MiB)
    async with client_for(api) as client:
        small = await client.files.upload(b"tiny", transfer=transfer)
        piped = await client.files.upload(io.BufferedReader(Pipe()), transfer=transfer)
    assert api.streamed == 2 and api.puts == []
    assert small.deduplicated is None and piped.object_key is None


async def test_a_failing_part_is_retried_alone(tmp_path: Path) -> None:
    api = FakeAPI(fail_once={3})
    data = data_of(4 * PART)
    async with client_for(api) as client:
        await client.files.upload(data, transfer=TransferConfig(direct_threshold=0))
    assert sorted(api.puts) == [1, 2, 3, 3, 4]
    assert b"".join(api.parts[n] for n in sorted(api.parts)) == data


async def test_resume_sends_only_the_missing_parts(tmp_path: Path) -> None:
    api = FakeAPI(received={1, 3})
    data = data_of(4 * PART)
    api.started = {"size_bytes": len(data)}
    async with client_for(api) as client:
        result = await client.files.resume_upload("up-1", data, filename="big.bin")
    assert sorted(api.puts) == [2, 4] and result.image_id == "img-1"
    assert api.completed is not None  # the hash covers every part, sent now or before
    assert api.completed["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()


async def test_an_upload_that_cannot_be_resumed_says_so() -> None:
    api = FakeAPI()
    api.started = {"size_bytes": 10}
    api.state = "expired"
    async with client_for(api) as client:
        with pytest.raises(UploadError, match=r"expired.*upload the file again"):
            await client.files.resume_upload("up-1", b"0123456789")


async def test_refused_bytes_forget_the_resume_state(tmp_path: Path) -> None:
    api = FakeAPI()

    async def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/complete"):
            return json_response(422, error_body("VALIDATION_ERROR", "the bytes hash to ..."))
        return await api(request)

    path = tmp_path / "big.bin"
    path.write_bytes(data_of(2 * PART))
    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL)
    transfer = TransferConfig(direct_threshold=0, state_dir=tmp_path / "state")
    async with Scopix.from_config(config, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(ValidationError):
            await client.files.upload(path, transfer=transfer)
    assert list((tmp_path / "state").glob("*.json")) == []


def test_transfer_config_is_checked() -> None:
    with pytest.raises(ValueError, match="between 5 MiB and 5 GiB"):
        TransferConfig(part_size=MiB)
    with pytest.raises(ValueError, match="concurrency"):
        TransferConfig(concurrency=0)
    assert TransferConfig(state_dir="/x").state_path == Path("/x")
    assert TransferConfig().direct_threshold == 100 * MiB


async def test_a_batch_sends_files_above_the_limit_directly(tmp_path: Path) -> None:
    api = FakeAPI()
    large = tmp_path / "scan.tif"
    with large.open("wb") as out:  # (sparse: quick to make)
        out.truncate(3 * PART + 1)
    (tmp_path / "note.txt").write_text("small")
    events: list[tuple[int, int]] = []
    async with client_for(api) as client:
        results = await client.files.upload_batch(
            [tmp_path / "note.txt", large],
            on_progress=lambda e: events.append((e.file_index, e.uploaded_bytes)),
            transfer=TransferConfig(direct_threshold=3 * PART, state_dir=tmp_path / "state"),
        )
    assert [r.image_id for r in results] == ["small", "img-1"] and not results.has_failures
    assert api.streamed == 1 and len(api.puts) == 4
    assert results[1].object_key == "direct/up-1" and results[0].object_key is None
    assert (1, 3 * PART + 1) in events  # the large file's progress, under its own index


async def test_complete_waits_for_another_complete_and_has_time_to_check(
    tmp_path: Path,
) -> None:
    api = FakeAPI()
    api.busy = 2  # e.g. a retry after a timeout, while the first is still reading the bytes
    data = data_of(2 * PART)
    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL, timeout=10, polling_interval=0.01)
    async with Scopix.from_config(config, transport=httpx.MockTransport(api)) as client:
        result = await client.files.upload(data, transfer=TransferConfig(direct_threshold=0))
    assert result.image_id == "img-1" and len(api.complete_timeouts) == 3
    assert api.complete_timeouts[0] > 10  # the client's timeout plus time to read back


async def test_a_server_with_a_lower_streaming_limit_gets_the_file_direct() -> None:
    api = FakeAPI()
    api.streaming_limit = MiB
    async with client_for(api) as client:
        result = await client.files.upload(data_of(2 * MiB), filename="x.bin")
    assert api.streamed == 1 and api.puts == [1] and result.object_key == "direct/up-1"


async def test_memory_stays_within_concurrency_times_part_size() -> None:
    import tracemalloc

    api = FakeAPI()
    api.keep = False
    data = data_of(12 * PART)  # (allocated before the measure starts)
    tracemalloc.start()
    try:
        async with client_for(api) as client:
            await client.files.upload(
                data, transfer=TransferConfig(direct_threshold=0, concurrency=2)
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(api.puts) == list(range(1, 13))
    # the file is 12 parts; in memory at once: the 2 parts in flight, MockTransport's copy of
    # each (a real connection streams them) and the next one being read
    assert peak < 6 * PART, f"peak {peak / MiB:.1f} MiB"


async def test_a_batch_hashes_a_large_file_once_for_skip_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scopix._files import UploadSource

    hashed: list[str] = []
    real = UploadSource.sha256

    def counting(self: UploadSource) -> str:
        hashed.append(self.filename)
        return real(self)

    monkeypatch.setattr(UploadSource, "sha256", counting)
    api = FakeAPI()
    large = tmp_path / "scan.tif"
    large.write_bytes(data_of(2 * PART))
    async with client_for(api) as client:
        results = await client.files.upload_batch(
            [large],
            skip_duplicates=True,
            transfer=TransferConfig(direct_threshold=PART, state_dir=tmp_path / "state"),
        )
    assert not results.has_failures and hashed == ["scan.tif"]  # once, for both purposes
    assert api.started is not None
    assert api.started["content_hash"] == "sha256:" + hashlib.sha256(large.read_bytes()).hexdigest()
