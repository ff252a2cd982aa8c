"""The pieces of a streamed chat turn, without a server: citations checked while the text
arrives in pieces of any size, and each chat model's stream read as its protocol sends it,
including the odd shapes real servers produce (events over several data lines, arguments as
an object, an error in the middle of a stream)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import anyio
import httpx
import pytest

from scopix_server.chat.agent import Agent, Budget, Event
from scopix_server.chat.citations import CitedText
from scopix_server.chat.models import (
    AnthropicChat,
    Conversation,
    OpenAIChat,
    Step,
    ToolCall,
    ToolResult,
)
from scopix_server.chat.tools import TOOLS, Toolbox
from scopix_server.processing import StepError

KNOWN = "12345678-1234-1234-1234-123456789abc"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
SEEN = {KNOWN: {"file_id": KNOWN, "media_type": "document", "filename": "a.pdf", "pages": [2]}}


def _pieces(text: str, rng: random.Random) -> list[str]:
    out, start = [], 0
    while start < len(text):
        size = rng.randint(1, 9)
        out.append(text[start : start + size])
        start += size
    return out


@pytest.mark.parametrize("seed", range(40))
def test_citations_are_decided_the_same_whatever_the_pieces(seed: int) -> None:
    """Kept: a returned file, with a page a tool returned (p.7 was not: dropped), written out
    canonically. Removed: a file no tool returned. Plain text: what is not a citation by the
    console's rule too (a BOM or a line break inside), which the console then does not link."""
    text = (
        f"  Yes [see below] it is [file:{KNOWN} p.2] and not [file:{UNKNOWN}]. Also "
        f"[file:{KNOWN.upper()}] [FILE: x] and [file:\t{KNOWN} p.7]; odd [file:\ufeff{KNOWN}] "
        f"and [file:\n{KNOWN}]; an open [fil at the end. \n"
    )
    cited = CitedText(SEEN)
    shown = [cited.feed(piece) for piece in _pieces(text, random.Random(seed))]
    shown.append(cited.finish())
    assert "".join(shown) == cited.text
    assert cited.text == (
        f"Yes [see below] it is [file:{KNOWN} p.2] and not. Also [file:{KNOWN}] "
        f"[FILE: x] and [file:{KNOWN}]; odd [file:\ufeff{KNOWN}] and [file:\n{KNOWN}]; an "
        "open [fil at the end."
    )
    assert cited.citations == [{"file_id": KNOWN, "media_type": "document", "filename": "a.pdf",
                                "pages": [2]}]  # fmt: skip


def test_a_citation_is_held_back_until_it_is_decided() -> None:
    cited = CitedText(SEEN)
    assert cited.feed("Late fees apply ") == "Late fees apply"
    assert cited.feed(f"[file:{UNKNOWN[:20]}") == ""  # (it may still be one)
    assert cited.feed(f"{UNKNOWN[20:]}]") == ""  # (it was, of a file no tool returned)
    assert cited.feed(". Done") == ". Done"
    assert cited.finish() == ""
    assert cited.text == "Late fees apply. Done"


def test_steps_are_paragraphs_and_an_empty_step_adds_nothing() -> None:
    cited = CitedText(SEEN)
    assert cited.paragraph() == ""  # (a first step that only called tools)
    assert cited.feed("Let me look. [fil") == "Let me look."
    assert cited.paragraph() == " [fil"  # (the step ended: undecided text is plain text)
    assert cited.feed("Found it.") == "\n\nFound it."
    assert cited.finish() == ""
    assert cited.text == "Let me look. [fil\n\nFound it."


def test_a_long_bracket_is_plain_text() -> None:
    cited = CitedText(SEEN)
    long = "[file:" + "x" * 100
    assert cited.feed(long) == long


# --- the models' streams, through a transport that answers as the provider would ---


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        raw = data if isinstance(data, str) else json.dumps(data)
        lines = "".join(f"data: {line}\n" for line in raw.split("\n"))
        out.append((f"event: {name}\n" if name else "") + lines + "\n")
    return "".join(out).encode()


def _run(model_for: Any, body: bytes, content_type: str = "text/event-stream") -> list[Any]:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    async def go() -> list[Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            model = model_for(client)
            conversation = Conversation("system", [], "question?")
            deadline = anyio.current_time() + 10
            return [part async for part in model.stream(conversation, TOOLS, deadline)]

    return anyio.run(go)


def _openai(client: httpx.AsyncClient) -> OpenAIChat:
    return OpenAIChat(client, base_url="http://model/v1", model="m", api_key=None)


def _anthropic(client: httpx.AsyncClient) -> AnthropicChat:
    return AnthropicChat(client, base_url="http://model", model="m", api_key="k")


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_openai_stream_with_an_object_for_arguments_and_a_multiline_event() -> None:
    call = {
        "index": 0,
        "id": "c1",
        "function": {"name": "read_file", "arguments": {"file_id": "x"}},
    }
    parts = _run(
        _openai,
        _sse(
            [
                (None, json.dumps(_chunk({"content": "Hi "}), indent=1)),  # (over many lines)
                (None, _chunk({"content": "there"})),
                (None, _chunk({"tool_calls": [call]}, "tool_calls")),
                (None, "[DONE]"),
            ]
        ),
    )
    assert parts[:2] == ["Hi ", "there"]
    step = parts[-1]
    assert isinstance(step, Step) and step.text == "Hi there"
    assert step.calls == [ToolCall("c1", "read_file", '{"file_id": "x"}')]
    assert step.tokens > 0  # (no usage sent: estimated)


def test_openai_error_in_the_middle_of_a_stream() -> None:
    body = _sse([(None, _chunk({"content": "Hi"})), (None, {"error": {"message": "overloaded"}})])
    with pytest.raises(StepError, match="overloaded") as raised:
        _run(_openai, body)
    assert raised.value.error_type == "vlm_error"


def test_openai_tool_call_without_an_id_is_refused() -> None:
    call = {"index": 0, "function": {"name": "read_file", "arguments": "{}"}}
    body = _sse([(None, _chunk({"tool_calls": [call]}, "tool_calls")), (None, "[DONE]")])
    with pytest.raises(StepError, match="no id"):
        _run(_openai, body)


@pytest.mark.parametrize(
    ("kind", "error_type"), [("overloaded_error", "vlm_error"), ("rate_limit_error", "rate_limit")]
)
def test_anthropic_error_event_mid_stream(kind: str, error_type: str) -> None:
    body = _sse(
        [
            ("message_start", {"type": "message_start", "message": {"usage": {}}}),
            ("error", {"type": "error", "error": {"type": kind, "message": "try later"}}),
        ]
    )
    with pytest.raises(StepError, match="try later") as raised:
        _run(_anthropic, body)
    assert raised.value.error_type == error_type


def test_anthropic_answer_in_one_json_body() -> None:
    answer = {
        "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "t1", "name": "search_images", "input": {"query": "dog"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 7, "output_tokens": 5},
    }
    parts = _run(_anthropic, json.dumps(answer).encode(), "application/json")
    assert parts == [
        "Looking.",
        Step("Looking.", [ToolCall("t1", "search_images", '{"query": "dog"}')], 12),
    ]


def test_the_conversation_in_each_protocol() -> None:
    step = Step("Looking.", [ToolCall("t1", "read_file", "{not json")], 3)
    conversation = Conversation(
        "system",
        [{"role": "user", "content": "before"}, {"role": "assistant", "content": "then"}],
        "now?",
        [(step, [ToolResult("t1", '{"error": "bad"}', False)])],
    )
    anthropic = AnthropicChat.messages(conversation)
    assert anthropic[-2] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "t1", "name": "read_file", "input": {}},
        ],
    }
    assert anthropic[-1]["content"][0]["is_error"] is True
    openai = OpenAIChat.messages(conversation)
    assert openai[0] == {"role": "system", "content": "system"}
    assert openai[-2]["tool_calls"][0]["function"]["arguments"] == "{not json"
    assert openai[-1] == {"role": "tool", "tool_call_id": "t1", "content": '{"error": "bad"}'}


def test_a_step_past_its_size_is_refused() -> None:
    endless = _sse([(None, _chunk({"content": "x" * 60_000})) for _ in range(80)])  # ~4.6 MiB
    with pytest.raises(StepError, match="more than 4 MiB") as raised:
        _run(_openai, endless)
    assert raised.value.error_type == "resource_limit"
    with pytest.raises(StepError, match="more than 4 MiB"):
        _run(_anthropic, b'{"content": "' + b"x" * (5 * 2**20) + b'"}', "application/json")


class _Chatterbox:
    """A model that writes on and on, never ending its step."""

    def __init__(self) -> None:
        self.written = 0

    async def stream(self, *_: Any) -> AsyncIterator[str | Step]:
        while True:
            self.written += 100
            yield "word " * 20


def test_text_past_the_token_budget_ends_the_turn() -> None:
    model = _Chatterbox()
    agent = Agent(model, Budget(steps=3, tokens=1000, seconds=30))
    toolbox = cast(Toolbox, SimpleNamespace(seen={}, images_found=[]))

    async def run() -> list[Event]:
        return [event async for event in agent.run([], "talk", toolbox)]

    events = anyio.run(run)
    assert events[-1].kind == "error" and events[-1].data is not None
    assert events[-1].data["code"] == "budget_exhausted"
    assert "complete" not in [e.kind for e in events]
    assert model.written <= 4 * 1000 + 100
