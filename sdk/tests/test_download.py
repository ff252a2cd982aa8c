"""``files.download(id, path)``: the file is written whole from a 200, or not at all."""

from __future__ import annotations

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


async def test_fewer_bytes_than_content_length_raise_and_write_nothing(
    make_client: MakeClient, target: Path
) -> None:
    answer = httpx.Response(200, content=BYTES[:1000], headers={"Content-Length": str(len(BYTES))})
    async with make_client(serving(answer)) as client:
        with pytest.raises(ScopixConnectionError) as caught:
            await client.files.download(FILE_ID, target)
    assert f"received 1000 bytes where its Content-Length announced {len(BYTES)}" in str(
        caught.value
    )
    assert untouched(target)


async def test_a_transfer_that_breaks_off_is_a_scopix_error(
    make_client: MakeClient, target: Path
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield BYTES[:500]
        raise httpx.ReadError("connection reset by peer")

    answer = httpx.Response(200, content=broken())
    async with make_client(serving(answer)) as client:
        with pytest.raises(ScopixError, match="broke off"):
            await client.files.download(FILE_ID, target)
    assert untouched(target)
