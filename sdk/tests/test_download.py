"""``files.download(id, path)``: the file is written whole from a 200, or not at all."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from scopix import Scopix, ScopixConnectionError, ScopixError, UnexpectedResponseError

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., Scopix]

FILE_ID = "0b7e4c1a-5d2f-4e8a-9c3b-1f2e3d4c5b6a"
SIGNED = "https://storage.example/o/original?sig=abc"
BYTES = b"\x89PNG\r\n" + bytes(range(256)) * 40
OLD = b"the file that was here before"


def serving(storage: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """The API redirects the variant to storage; storage answers with ``storage``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.example":
            return storage
        assert request.url.path.endswith(f"/files/{FILE_ID}/variants/original")
        return httpx.Response(302, headers={"Location": SIGNED})

    return handler


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(OLD)
    return path


def untouched(target: Path) -> bool:
    """The destination holds what it held before, and no partial file is left beside it."""
    return target.read_bytes() == OLD and sorted(target.parent.iterdir()) == [target]


async def test_a_whole_200_answer_is_written(make_client: MakeClient, target: Path) -> None:
    answer = httpx.Response(200, content=BYTES)
    async with make_client(serving(answer)) as client:
        written = await client.files.download(FILE_ID, target)
    assert written == target
    assert target.read_bytes() == BYTES
    assert sorted(target.parent.iterdir()) == [target]


async def test_a_redirect_from_storage_is_not_saved_as_the_file(
    make_client: MakeClient, target: Path
) -> None:
    page = "<html><body>Please log in</body></html>"
    answer = httpx.Response(
        307, text=page, headers={"Location": "https://login.example/", "Content-Type": "text/html"}
    )
    async with make_client(serving(answer)) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.files.download(FILE_ID, target)
    assert caught.value.status_code == 307
    assert "Please log in" in caught.value.message
    assert "nothing was written" in caught.value.message
    assert "sig=abc" not in caught.value.message  # the signed URL's query stays out
    assert untouched(target)


async def test_a_partial_content_answer_is_refused(make_client: MakeClient, target: Path) -> None:
    answer = httpx.Response(206, content=BYTES[:100])
    async with make_client(serving(answer)) as client:
        with pytest.raises(UnexpectedResponseError):
            await client.files.download(FILE_ID, target)
    assert untouched(target)


def storage(*answers: Callable[[httpx.Request], httpx.Response]) -> Callable[..., httpx.Response]:
    """The API redirects the variant to storage; storage's n-th request gets ``answers[n]`` (the
    last one again after that). Storage's requests are kept in ``handler.asked``."""
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != "storage.example":
            return httpx.Response(302, headers={"Location": SIGNED})
        asked.append(request)
        return answers[min(len(asked), len(answers)) - 1](request)

    handler.asked = asked  # type: ignore[attr-defined]
    return handler


def cut_after(size: int) -> Callable[[httpx.Request], httpx.Response]:
    """A 200 of the whole file that breaks off after ``size`` bytes."""

    async def body() -> AsyncIterator[bytes]:
        yield BYTES[:size]
        raise httpx.ReadError("connection reset by peer")

    return lambda request: httpx.Response(
        200, content=body(), headers={"Content-Length": str(len(BYTES))}
    )


def the_rest(status: int = 206) -> Callable[[httpx.Request], httpx.Response]:
    """What a server that honours ``Range: bytes=N-`` sends (some S3 servers say 200)."""

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.headers["Range"].removeprefix("bytes=").removesuffix("-"))
        rest = BYTES[start:]
        headers = {"Content-Range": f"bytes {start}-{len(BYTES) - 1}/{len(BYTES)}"}
        return httpx.Response(status, content=rest, headers=headers)

    return answer


@pytest.mark.parametrize("status", [206, 200])
async def test_a_transfer_that_breaks_off_goes_on_from_where_it_stopped(
    make_client: MakeClient, target: Path, status: int
) -> None:
    handler = storage(cut_after(500), cut_after(700), the_rest(status))
    async with make_client(handler) as client:
        await client.files.download(FILE_ID, target)
    assert target.read_bytes() == BYTES
    ranges = [r.headers.get("Range") for r in handler.asked]
    assert ranges == [None, "bytes=500-", "bytes=700-"]
    assert sorted(target.parent.iterdir()) == [target]


async def test_a_server_that_ignores_the_range_sends_it_all_again(
    make_client: MakeClient, target: Path
) -> None:
    handler = storage(cut_after(500), lambda request: httpx.Response(200, content=BYTES))
    async with make_client(handler) as client:
        await client.files.download(FILE_ID, target)
    assert target.read_bytes() == BYTES  # (started over, not the start twice)


async def test_fewer_bytes_than_content_length_every_time_raise_and_write_nothing(
    make_client: MakeClient, target: Path
) -> None:
    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=BYTES[:1000], headers={"Content-Length": str(len(BYTES))}
        )

    handler = storage(short)
    async with make_client(handler, max_retries=2) as client:
        with pytest.raises(ScopixConnectionError) as caught:
            await client.files.download(FILE_ID, target)
    assert f"received 1000 bytes where {len(BYTES)} were announced" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert len(handler.asked) == 3  # the first try and two more
    assert untouched(target)


async def test_a_transfer_that_keeps_breaking_off_is_a_scopix_error(
    make_client: MakeClient, target: Path
) -> None:
    handler = storage(cut_after(500), lambda request: cut_after(0)(request))
    async with make_client(handler, max_retries=1) as client:
        with pytest.raises(ScopixError, match="broke off"):
            await client.files.download(FILE_ID, target)
    assert len(handler.asked) == 2
    assert untouched(target)


async def test_a_compressed_transfer_that_breaks_off_starts_over(
    make_client: MakeClient, target: Path
) -> None:
    """A compressed body's bytes are not the file's: no range of them is asked for."""
    packed = gzip.compress(BYTES)

    async def cut() -> AsyncIterator[bytes]:
        yield packed[: len(packed) // 2]
        raise httpx.ReadError("connection reset by peer")

    handler = storage(
        lambda request: httpx.Response(200, content=cut(), headers={"Content-Encoding": "gzip"}),
        lambda request: httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"}),
    )
    async with make_client(handler) as client:
        await client.files.download(FILE_ID, target)
    assert target.read_bytes() == BYTES
    assert [r.headers.get("Range") for r in handler.asked] == [None, None]
