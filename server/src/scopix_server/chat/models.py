"""Chat models the agent can talk to: any OpenAI-compatible chat-completions endpoint with tool
calls, and Anthropic's Messages API. Both stream: the answer's text arrives as it is written.

The agent keeps one ``Conversation`` in neutral form; each model writes it in its own protocol,
streams one step (``stream``: the text as it comes, then the whole ``Step``), and classifies
every failure as a ``StepError`` (API.md §5 error types). A server that ignores ``stream`` and
answers with one JSON body is read the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import httpx

from ..processing import StepError
from ..providers.llm import status_error, transport_error

__all__ = [
    "AnthropicChat",
    "ChatModel",
    "Conversation",
    "OpenAIChat",
    "Step",
    "ToolCall",
    "ToolResult",
    "left",
]

ANTHROPIC_VERSION = "2023-06-01"
ANSWER_TOKENS = 4096  # the most a step may write (Anthropic requires a bound)
MAX_STEP_BYTES = 4 * 2**20  # of one step's answer, streamed or not


def left(deadline: float) -> float:
    """Seconds left before ``deadline``; none left is a timeout at once."""
    remaining = deadline - anyio.current_time()
    if remaining <= 0:
        raise TimeoutError
    return remaining


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str | None  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: str
    ok: bool


@dataclass(frozen=True)
class Step:
    text: str
    calls: list[ToolCall]
    tokens: int  # as the provider counted them (estimated when it does not say)


@dataclass
class Conversation:
    system: str
    history: Sequence[Mapping[str, str]]  # earlier messages: role (user, assistant), content
    question: str
    rounds: list[tuple[Step, list[ToolResult]]] = field(default_factory=list)


class ChatModel(Protocol):
    def stream(
        self, conversation: Conversation, tools: Sequence[Mapping[str, Any]], deadline: float
    ) -> AsyncGenerator[str | Step, None]:
        """The step's text in pieces as it is written, then the whole ``Step``."""
        ...


# --- HTTP: a streamed answer as server-sent events ---


def _decoded(provider: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # (RecursionError: nested too deep to read)
        raise StepError(
            f"{provider} sent an event that is not JSON: {raw[:120]!r}", "vlm_error", step="chat"
        ) from None


async def _events(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str],
    provider: str,
    deadline: float,
) -> AsyncGenerator[tuple[str, Any], None]:
    """``(event name, decoded data)`` per server-sent event (name "" when the event has none,
    data "[DONE]" as is); ``("json", body)`` once when the answer is one JSON body. Every wait
    is bounded by ``deadline`` (no event is yielded inside a cancel scope)."""
    request = client.build_request("POST", url, json=body, headers=dict(headers))
    try:
        with anyio.fail_after(left(deadline)):
            response = await client.send(request, stream=True)
    except httpx.HTTPError as error:
        raise transport_error(provider, url, error, step="chat") from error
    try:
        if response.status_code >= 400 or "text/event-stream" not in response.headers.get(
            "content-type", ""
        ):
            raw = bytearray()
            async for chunk in _chunks(response, provider, url, deadline):
                raw += chunk
            if response.status_code >= 400:
                kept = {k: v for k, v in response.headers.items() if k in ("retry-after",)}
                refused = httpx.Response(response.status_code, headers=kept, content=bytes(raw))
                raise status_error(provider, refused)
            answer = _decoded(provider, raw.decode("utf-8", errors="replace"))
            if not isinstance(answer, dict):
                raise StepError(f"{provider} answered without a JSON object", "vlm_error")
            yield "json", answer
            return
        name = ""
        data: list[str] = []
        async for line in _lines(response, provider, url, deadline):
            if line is None or line == "":
                if data:
                    text = "\n".join(data)
                    yield name, text if text == "[DONE]" else _decoded(provider, text)
                name = ""
                data = []
                continue
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
    finally:
        with anyio.CancelScope(shield=True):
            await response.aclose()


async def _chunks(
    response: httpx.Response, provider: str, url: str, deadline: float
) -> AsyncIterator[bytes]:
    """The body as it arrives, each wait bounded by ``deadline``, at most ``MAX_STEP_BYTES``."""
    chunks = response.aiter_bytes()
    size = 0
    while True:
        try:
            with anyio.fail_after(left(deadline)):
                chunk = await anext(chunks, None)
        except httpx.HTTPError as error:
            raise transport_error(provider, url, error, step="chat") from error
        if chunk is None:
            return
        size += len(chunk)
        _bounded(provider, size)
        yield chunk


async def _lines(
    response: httpx.Response, provider: str, url: str, deadline: float
) -> AsyncIterator[str | None]:
    """The body's lines (without their ends), then None; at most ``MAX_STEP_BYTES`` in all,
    counted as they arrive (a line that never ends is refused, not buffered)."""
    pending = b""
    async for chunk in _chunks(response, provider, url, deadline):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line.removesuffix(b"\r").decode("utf-8", errors="replace")
    if pending:
        yield pending.removesuffix(b"\r").decode("utf-8", errors="replace")
    yield None


def _bounded(provider: str, size: int) -> None:
    if size > MAX_STEP_BYTES:
        raise StepError(
            f"{provider} sent more than {MAX_STEP_BYTES // 2**20} MiB for one step of the turn",
            "resource_limit",
            step="chat",
        )


def _estimate(body: Mapping[str, Any], text: str, calls: Sequence[ToolCall]) -> int:
    """Tokens of a step whose provider did not count them: about four characters each."""
    written = len(text) + sum(len(c.arguments or "") for c in calls)
    return (len(json.dumps(body, default=str)) + written) // 4 + 1


def _cut_off(provider: str) -> StepError:
    return StepError(f"{provider} ended its stream before its answer was complete", "vlm_error")


# --- OpenAI-compatible chat completions ---


def _openai_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _openai_arguments(value: Any) -> str | None:
    if isinstance(value, dict):  # (some servers send an object, not its JSON)
        return json.dumps(value)
    return value if isinstance(value, str) else None


def _openai_calls(raw: Any) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StepError("the chat model sent tool_calls that are not a list", "vlm_error")
    calls = []
    for call in raw:
        function = call.get("function") if isinstance(call, dict) else None
        ident = call.get("id") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(ident, str) or not ident:
            raise StepError("the chat model sent a malformed tool call", "vlm_error")
        arguments = _openai_arguments(function.get("arguments"))
        calls.append(ToolCall(ident, str(function.get("name") or ""), arguments))
    return calls


def _openai_usage(usage: Any) -> int | None:
    used = usage.get("total_tokens") if isinstance(usage, dict) else None
    return used if isinstance(used, int) and used >= 0 else None


class OpenAIChat:
    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str, model: str, api_key: str | None
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    @staticmethod
    def messages(conversation: Conversation) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": conversation.system}]
        messages += [{"role": m["role"], "content": m["content"]} for m in conversation.history]
        messages.append({"role": "user", "content": conversation.question})
        for step, results in conversation.rounds:
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments or "{}"},
                }
                for c in step.calls
            ]
            messages.append(
                {"role": "assistant", "content": step.text or None, "tool_calls": calls}
            )
            messages += [
                {"role": "tool", "tool_call_id": r.call_id, "content": r.content} for r in results
            ]
        return messages

    async def stream(
        self, conversation: Conversation, tools: Sequence[Mapping[str, Any]], deadline: float
    ) -> AsyncGenerator[str | Step, None]:
        body = {
            "model": self._model,
            "messages": self.messages(conversation),
            "tools": list(tools),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        text: list[str] = []
        parts: dict[int, dict[str, Any]] = {}  # tool calls as their pieces arrive, by index
        tokens: int | None = None
        finished = False  # a choice said why it ended, or [DONE] came
        events = _events(self._client, self._url, body, self._headers, "chat model", deadline)
        async with aclosing(events):
            async for name, data in events:
                if data == "[DONE]":
                    finished = True
                    break
                if not isinstance(data, dict):
                    raise StepError(
                        "the chat model sent an event that is not an object", "vlm_error"
                    )
                if "error" in data:
                    error = data["error"]
                    said = error.get("message") if isinstance(error, dict) else error
                    raise StepError(f"the chat model failed mid-answer: {said}", "vlm_error")
                tokens = _openai_usage(data.get("usage")) or tokens
                if name == "json":  # one JSON body
                    message = _choice_message(data)
                    whole = _openai_text(message)
                    if whole:
                        yield whole
                    calls = _openai_calls(message.get("tool_calls"))
                    yield Step(whole, calls, tokens or _estimate(body, whole, calls))
                    return
                for choice in data.get("choices") or []:
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        finished = True
                    if not isinstance(delta, dict):
                        continue
                    piece = delta.get("content")
                    if isinstance(piece, str) and piece:
                        text.append(piece)
                        yield piece
                    for part in delta.get("tool_calls") or []:
                        _merge_call(parts, part)
        if not finished:
            raise _cut_off("the chat model")
        calls = [_call_of(parts[i]) for i in sorted(parts)]
        whole = "".join(text)
        yield Step(whole, calls, tokens or _estimate(body, whole, calls))


def _choice_message(answer: Mapping[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise StepError("the chat model answered without choices", "vlm_error", step="chat")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise StepError("the chat model answered without a message", "vlm_error", step="chat")
    return message


def _merge_call(parts: dict[int, dict[str, Any]], piece: Any) -> None:
    if not isinstance(piece, dict):
        raise StepError("the chat model sent a malformed tool call", "vlm_error")
    index = piece.get("index", len(parts))
    if not isinstance(index, int):
        raise StepError("the chat model sent a tool call without an index", "vlm_error")
    call = parts.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if isinstance(piece.get("id"), str):
        call["id"] = call["id"] or piece["id"]
    function = piece.get("function")
    if isinstance(function, dict):
        if isinstance(function.get("name"), str):
            call["name"] += function["name"]
        arguments = _openai_arguments(function.get("arguments"))
        if arguments:
            call["arguments"] += arguments


def _call_of(parts: Mapping[str, Any]) -> ToolCall:
    if not parts["id"]:
        raise StepError("the chat model sent a malformed tool call (no id)", "vlm_error")
    return ToolCall(parts["id"], parts["name"], parts["arguments"] or None)


# --- Anthropic Messages ---


class AnthropicChat:
    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str, model: str, api_key: str
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._model = model
        self._headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}

    @staticmethod
    def messages(conversation: Conversation) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"role": m["role"], "content": m["content"]} for m in conversation.history
        ]
        messages.append({"role": "user", "content": conversation.question})
        for step, results in conversation.rounds:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": step.text}] if step.text else []
            )
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _input_of(c.arguments)}
                for c in step.calls
            ]
            messages.append({"role": "assistant", "content": blocks})
            outcome = [
                {
                    "type": "tool_result",
                    "tool_use_id": r.call_id,
                    "content": r.content,
                    "is_error": not r.ok,
                }
                for r in results
            ]
            messages.append({"role": "user", "content": outcome})
        return messages

    @staticmethod
    def tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "name": t["function"]["name"],
                "description": t["function"]["description"],
                "input_schema": t["function"]["parameters"],
            }
            for t in tools
        ]

    async def stream(
        self, conversation: Conversation, tools: Sequence[Mapping[str, Any]], deadline: float
    ) -> AsyncGenerator[str | Step, None]:
        body = {
            "model": self._model,
            "max_tokens": ANSWER_TOKENS,
            "system": conversation.system,
            "messages": self.messages(conversation),
            "tools": self.tools(tools),
            "stream": True,
        }
        text: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        used = {"input": 0, "output": 0}
        stop: str | None = None
        events = _events(self._client, self._url, body, self._headers, "chat model", deadline)
        async with aclosing(events):
            async for name, data in events:
                if not isinstance(data, dict):
                    raise StepError(
                        "the chat model sent an event that is not an object", "vlm_error"
                    )
                kind = data.get("type", name)
                if name == "json":  # one JSON body
                    whole, calls = _anthropic_blocks(data)
                    if whole:
                        yield whole
                    _usage(used, data.get("usage"))
                    tokens = used["input"] + used["output"]
                    yield Step(whole, calls, tokens or _estimate(body, whole, calls))
                    return
                if kind == "error":
                    raise _stream_error(data.get("error"))
                if kind == "message_start":
                    message = data.get("message")
                    _usage(used, message.get("usage") if isinstance(message, dict) else None)
                elif kind == "content_block_start":
                    block = data.get("content_block")
                    if isinstance(block, dict):
                        blocks[_index(data, len(blocks))] = {**block, "partial": ""}
                elif kind == "content_block_delta":
                    delta = data.get("delta")
                    if not isinstance(delta, dict):
                        continue
                    if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                        text.append(delta["text"])
                        yield delta["text"]
                    elif delta.get("type") == "input_json_delta":
                        block = blocks.get(_index(data, -1))
                        if block is not None and isinstance(delta.get("partial_json"), str):
                            block["partial"] += delta["partial_json"]
                elif kind == "message_delta":
                    _usage(used, data.get("usage"))
                    delta = data.get("delta")
                    if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                        stop = delta["stop_reason"]
                elif kind == "message_stop":
                    break
            else:
                raise _cut_off("the chat model")
        if stop == "refusal" and not text:
            raise StepError("the chat model declined to answer", "validation", step="chat")
        calls = [
            ToolCall(str(b.get("id") or ""), str(b.get("name") or ""), b["partial"] or "{}")
            for _, b in sorted(blocks.items())
            if b.get("type") == "tool_use"
        ]
        if any(not c.id for c in calls):
            raise StepError("the chat model sent a malformed tool call (no id)", "vlm_error")
        whole = "".join(text)
        tokens = used["input"] + used["output"]
        yield Step(whole, calls, tokens or _estimate(body, whole, calls))


def _index(data: Mapping[str, Any], default: int) -> int:
    value = data.get("index", default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise StepError("the chat model sent a content block without a number", "vlm_error")
    return value


def _input_of(arguments: str | None) -> dict[str, Any]:
    """A tool call's input as Anthropic takes it back: an object ({} when it was not one)."""
    try:
        value = json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _usage(used: dict[str, int], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    for side in ("input", "output"):
        value = usage.get(f"{side}_tokens")
        if isinstance(value, int) and value >= 0:
            used[side] = max(used[side], value)


def _anthropic_blocks(answer: Mapping[str, Any]) -> tuple[str, list[ToolCall]]:
    if answer.get("stop_reason") == "refusal":
        raise StepError("the chat model declined to answer", "validation", step="chat")
    blocks = answer.get("content")
    if not isinstance(blocks, list):
        raise StepError("the chat model answered without content", "vlm_error", step="chat")
    text = "".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )
    calls = []
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            ident = block.get("id")
            if not isinstance(ident, str) or not ident:
                raise StepError("the chat model sent a malformed tool call (no id)", "vlm_error")
            calls.append(
                ToolCall(ident, str(block.get("name") or ""), json.dumps(block.get("input")))
            )
    return text, calls


def _stream_error(error: Any) -> StepError:
    """An ``error`` event in the middle of a stream (Anthropic: overloaded, rate limited)."""
    kind = error.get("type") if isinstance(error, dict) else None
    said = error.get("message") if isinstance(error, dict) else error
    message = f"the chat model failed mid-answer: {kind or 'error'}: {said}"
    if kind == "rate_limit_error":
        return StepError(message, "rate_limit", step="chat")
    return StepError(message, "vlm_error", step="chat")
