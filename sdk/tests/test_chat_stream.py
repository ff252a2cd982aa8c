"""``chats.send_stream``: server-sent events read line by line, with a bound on one event's size
so that a server that never ends an event (or a line) cannot fill the client's memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable

import httpx
import pytest

from scopix import ChatTokenType, ClientConfig, Scopix, SSEStreamError, SyncScopix
from scopix.resources.chat import MAX_EVENT_BYTES
from sdk_support import BASE_URL, VALID_KEY

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., Scopix]
MiB = 1024 * 1024

TOKEN = json.dumps({"type": "token", "content": "Hello"}).encode()
COMPLETE = json.dumps({"type": "complete", "data": {"message_id": "m-1"}}).encode()


class Feed:
    """A response body played chunk by chunk, counting how much of it the client pulled."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


def streaming(feed: Feed) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=feed, headers={"Content-Type": "text/event-stream"})

    return handler


async def tokens(client: Scopix) -> list[tuple[ChatTokenType, str | None]]:
    return [(t.type, t.content) async for t in client.chats.send_stream("hi", session_id="s-1")]


async def test_events_split_across_chunks_with_any_line_end(make_client: MakeClient) -> None:
    # CRLF cut between two chunks, a lone CR, a comment and an event: field
    chunks = [b": keep-alive\r", b"\n", b"event: token\rdata: ", TOKEN, b"\r", b"\n\r", b"\n"]
    feed = Feed([*chunks, b"data: " + COMPLETE + b"\n\n"])
    async with make_client(streaming(feed)) as client:
        got = await tokens(client)
    assert got == [(ChatTokenType.TOKEN, "Hello"), (ChatTokenType.COMPLETE, None)]


async def test_a_line_that_never_ends_is_cut_off_at_the_limit(make_client: MakeClient) -> None:
    endless = Feed(b"data: " + b"x" * (64 * 1024) for _ in range(32 * 16))  # 32 MiB, no newline
    async with make_client(streaming(endless)) as client:
        with pytest.raises(SSEStreamError) as caught:
            await tokens(client)
    assert f"{MAX_EVENT_BYTES} bytes" in caught.value.message
    assert caught.value.details["limit_bytes"] == MAX_EVENT_BYTES == MiB
    assert endless.pulled <= MAX_EVENT_BYTES + 2 * 64 * 1024  # read no further than the limit


async def test_one_data_line_over_the_limit_is_refused(make_client: MakeClient) -> None:
    huge = b"data: " + b"y" * (10 * MiB) + b"\n\n"
    async with make_client(streaming(Feed([b"data: " + TOKEN + b"\n\n", huge]))) as client:
        with pytest.raises(SSEStreamError, match="a line passed 1048576 bytes") as caught:
            await tokens(client)
    assert caught.value.events_received == 1


async def test_many_data_lines_of_one_event_over_the_limit_are_refused(
    make_client: MakeClient,
) -> None:
    line = b"data: " + b"z" * 1000 + b"\n"
    feed = Feed([line] * 1100)  # about 1.1 MB in one event, each line small
    async with make_client(streaming(feed)) as client:
        with pytest.raises(SSEStreamError, match="an event's data passed 1048576 bytes"):
            await tokens(client)


async def test_events_just_under_the_limit_are_read(make_client: MakeClient) -> None:
    text = "a" * (MAX_EVENT_BYTES - 100)
    big = json.dumps({"type": "token", "content": text}).encode()
    feed = Feed([b"data: " + big + b"\n\n", b"data: " + COMPLETE + b"\n\n"])
    async with make_client(streaming(feed)) as client:
        got = await tokens(client)
    assert got == [(ChatTokenType.TOKEN, text), (ChatTokenType.COMPLETE, None)]


def test_the_blocking_client_has_the_same_limit() -> None:
    feed = Feed([b"data: " + b"w" * (2 * MiB) + b"\n\n"])
    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL)
    client = SyncScopix.from_config(config, transport=httpx.MockTransport(streaming(feed)))
    with client, pytest.raises(SSEStreamError, match="1048576 bytes"):
        list(client.chats.send_stream("hi", session_id="s-1"))
