"""The agent loop: a chat model (``models.ChatModel``: OpenAI-compatible or Anthropic) answers
a question with the tools of ``tools.Toolbox``, within budgets of steps, tokens and time.

It yields the turn's events as they happen (``Event``): status, the answer's text as the model
writes it (``token``), each tool invocation and its result, the images found, then ``complete``
(the whole answer), or ``error`` with a classified code. Citations are checked as the text
streams (``citations.CitedText``): one a tool did not return in this turn never reaches the
client. The text of every step is part of the answer ("Let me look that up." before a search).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio

from ..processing import StepError
from .citations import CitedText
from .models import ChatModel, Conversation, Step, ToolResult, left
from .tools import TOOLS, Toolbox, ToolError

__all__ = ["SYSTEM", "Agent", "Budget", "Event"]

SYSTEM = (
    "You answer questions about the user's own library of images and documents, using only "
    "what the tools return. Search before you answer; read a file when a passage is not enough. "
    "Cite every fact with the file it came from as [file:<file_id>] (for a document page, "
    "[file:<file_id> p.<page>]), using ids exactly as the tools gave them. If the tools find "
    "nothing relevant, say so plainly; never invent files, pages or facts."
)
_RESULT_CHARS = 12_000  # of one tool result sent back to the model
_CHARS_PER_TOKEN = 4  # (text the model writes is counted against the token budget as it comes)


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


class _Budgeted(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Agent:
    def __init__(self, model: ChatModel, budget: Budget) -> None:
        self._model = model
        self.budget = budget

    async def run(
        self, history: Sequence[Mapping[str, str]], question: str, tools: Toolbox
    ) -> AsyncIterator[Event]:
        """The turn's events; the last is ``complete`` (with ``content``: the whole answer,
        which is the ``token`` events joined) or ``error``."""
        conversation = Conversation(SYSTEM, history, question)
        answer = CitedText(tools.seen)
        used = written = 0
        deadline = anyio.current_time() + self.budget.seconds
        yield Event("status", "Reading your library.")
        # (no event is yielded inside a cancel scope: each wait has its own, up to the deadline)
        try:
            for number in range(1, self.budget.steps + 1):
                step: Step | None = None
                # (closed at once when the turn stops in the middle: the model's connection too)
                async with aclosing(self._model.stream(conversation, TOOLS, deadline)) as parts:
                    async for part in parts:
                        if isinstance(part, Step):
                            step = part
                            continue
                        written += len(part)
                        if written > _CHARS_PER_TOKEN * self.budget.tokens:
                            raise _Budgeted(
                                "budget_exhausted",
                                f"the answer went past {self.budget.tokens} tokens "
                                "(SCOPIX_SERVER_CHAT_MAX_TOKENS)",
                            )
                        if shown := answer.feed(part):
                            yield Event("token", shown)
                assert step is not None
                used += step.tokens
                if not step.calls:
                    if rest := answer.finish():
                        yield Event("token", rest)
                    if not answer.text:
                        raise StepError(
                            "the chat model answered with neither text nor a tool call",
                            "vlm_error",
                            step="chat",
                        )
                    if tools.images_found:
                        yield Event("image_results", data={"images": tools.images_found})
                    yield Event(
                        "complete",
                        answer.text,
                        {"tokens": used, "steps": number, "citations": answer.citations},
                    )
                    return
                if used >= self.budget.tokens:
                    raise _Budgeted(
                        "budget_exhausted",
                        f"the turn used {used} tokens, over its {self.budget.tokens} "
                        "(SCOPIX_SERVER_CHAT_MAX_TOKENS)",
                    )
                if rest := answer.paragraph():
                    yield Event("token", rest)
                results: list[ToolResult] = []
                async for event in self._tools(step, tools, results, deadline):
                    yield event
                conversation.rounds.append((step, results))
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
        self, step: Step, tools: Toolbox, results: list[ToolResult], deadline: float
    ) -> AsyncIterator[Event]:
        for call in step.calls:
            yield Event("tool_invocation", data={"name": call.name, "arguments": call.arguments})
            try:
                with anyio.fail_after(left(deadline)):
                    result = await tools.call(call.name, call.arguments)
                ok = True
            except ToolError as wrong:
                result = json.dumps({"error": str(wrong)})
                ok = False
            yield Event("tool_result", data={"name": call.name, "ok": ok, "chars": len(result)})
            results.append(ToolResult(call.id, result[:_RESULT_CHARS], ok))
