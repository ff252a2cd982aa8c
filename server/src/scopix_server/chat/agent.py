"""The agent loop: a chat model (any OpenAI-compatible endpoint with tool calls) answers a
question with the tools of ``tools.Toolbox``, within budgets of steps, tokens and time.

It yields the turn's events as they happen (``Event``): status, each tool invocation and its
result, the images found, the answer's text, then ``complete``, or ``error`` with a classified
code. A citation ``[file:<id>]`` (``[file:<id> p.3]``) in the answer is kept only when a tool
returned that file in this turn; any other is removed, so an answer never points at a file the
tenant does not own or the tools did not find.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from ..processing import StepError
from ..providers.llm import post_json
from .tools import TOOLS, Toolbox, ToolError

__all__ = ["SYSTEM", "Agent", "Budget", "Event", "cite"]

SYSTEM = (
    "You answer questions about the user's own library of images and documents, using only "
    "what the tools return. Search before you answer; read a file when a passage is not enough. "
    "Cite every fact with the file it came from as [file:<file_id>] (for a document page, "
    "[file:<file_id> p.<page>]), using ids exactly as the tools gave them. If the tools find "
    "nothing relevant, say so plainly; never invent files, pages or facts."
)
_CITATION = re.compile(
    r"\[file:\s*([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?:\s*p\.?\s*(\d+))?\s*\]"
)
_RESULT_CHARS = 12_000  # of one tool result sent back to the model


@dataclass(frozen=True)
class Budget:
    steps: int
    tokens: int
    seconds: float


@dataclass(frozen=True)
class Event:
    kind: str  # a chat token type
    content: str | None = None
    data: dict[str, Any] | None = None


def cite(text: str, seen: Mapping[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """``text`` without the citations of files no tool returned, and the files it cites."""
    cited: dict[str, dict[str, Any]] = {}

    def keep(match: re.Match[str]) -> str:
        ident = match.group(1).lower()
        found = seen.get(ident)
        if found is None:
            return ""
        entry = cited.setdefault(ident, {k: v for k, v in found.items() if k != "pages"})
        if match.group(2):
            pages = entry.setdefault("pages", [])
            if int(match.group(2)) not in pages:
                pages.append(int(match.group(2)))
        return match.group(0)

    cleaned = _CITATION.sub(keep, text)
    return re.sub(r"[ \t]+([.,;:])", r"\1", cleaned).strip(), list(cited.values())


def _left(deadline: float) -> float:
    """Seconds left before ``deadline``; none left is a timeout at once."""
    left = deadline - anyio.current_time()
    if left <= 0:
        raise TimeoutError
    return left


class _Budgeted(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _choice(answer: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise StepError("the chat model answered without choices", "vlm_error", step="chat")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise StepError("the chat model answered without a message", "vlm_error", step="chat")
    usage = answer.get("usage")
    used = usage.get("total_tokens") if isinstance(usage, dict) else None
    return message, used if isinstance(used, int) and used >= 0 else 0


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


class Agent:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        budget: Budget,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.budget = budget

    async def run(
        self, history: Sequence[Mapping[str, str]], question: str, tools: Toolbox
    ) -> AsyncIterator[Event]:
        """The turn's events; the last is ``complete`` (with ``content``: the whole answer,
        citations checked) or ``error``."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        messages += [{"role": m["role"], "content": m["content"]} for m in history]
        messages.append({"role": "user", "content": question})
        used = 0
        deadline = anyio.current_time() + self.budget.seconds
        yield Event("status", "Reading your library.")
        # (no event is yielded inside a cancel scope: each wait gets its own, up to the deadline)
        try:
            for step in range(1, self.budget.steps + 1):
                with anyio.fail_after(_left(deadline)):
                    answer = await post_json(
                        self._client,
                        self._url,
                        {"model": self._model, "messages": messages, "tools": TOOLS},
                        headers=self._headers,
                        provider="chat model",
                    )
                message, tokens = _choice(answer)
                used += tokens
                calls = message.get("tool_calls")
                if not calls:
                    text = _text_of(message)
                    if not text.strip():
                        raise StepError(
                            "the chat model answered with neither text nor a tool call",
                            "vlm_error",
                            step="chat",
                        )
                    answer_text, citations = cite(text, tools.seen)
                    if tools.images_found:
                        yield Event("image_results", data={"images": tools.images_found})
                    yield Event(
                        "complete",
                        answer_text,
                        {"tokens": used, "steps": step, "citations": citations},
                    )
                    return
                if used >= self.budget.tokens:
                    raise _Budgeted(
                        "budget_exhausted",
                        f"the turn used {used} tokens, over its {self.budget.tokens} "
                        "(SCOPIX_SERVER_CHAT_MAX_TOKENS)",
                    )
                messages.append(
                    {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
                )
                async for event in self._tools(calls, tools, messages, deadline):
                    yield event
            raise _Budgeted(
                "budget_exhausted",
                f"the model had not answered after {self.budget.steps} steps "
                "(SCOPIX_SERVER_CHAT_MAX_STEPS)",
            )
        except TimeoutError:
            yield Event(
                "error",
                data={
                    "code": "timeout",
                    "message": f"the turn took longer than {self.budget.seconds:g} s "
                    "(SCOPIX_SERVER_CHAT_TIMEOUT_SECONDS)",
                },
            )
        except _Budgeted as stopped:
            yield Event("error", data={"code": stopped.code, "message": stopped.message})
        except StepError as failed:
            yield Event("error", data={"code": failed.error_type, "message": failed.message})

    async def _tools(
        self, calls: Any, tools: Toolbox, messages: list[dict[str, Any]], deadline: float
    ) -> AsyncIterator[Event]:
        if not isinstance(calls, list):
            raise StepError("the chat model sent tool_calls that are not a list", "vlm_error")
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            ident = call.get("id") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(ident, str):
                raise StepError("the chat model sent a malformed tool call", "vlm_error")
            name = str(function.get("name") or "")
            arguments = function.get("arguments")
            yield Event("tool_invocation", data={"name": name, "arguments": arguments})
            if isinstance(arguments, dict):  # (some servers send an object, not its JSON)
                arguments = json.dumps(arguments)
            try:
                with anyio.fail_after(_left(deadline)):
                    result = await tools.call(
                        name, arguments if isinstance(arguments, str) else None
                    )
                ok = True
            except ToolError as wrong:
                result = json.dumps({"error": str(wrong)})
                ok = False
            yield Event("tool_result", data={"name": name, "ok": ok, "chars": len(result)})
            messages.append(
                {"role": "tool", "tool_call_id": ident, "content": result[:_RESULT_CHARS]}
            )
