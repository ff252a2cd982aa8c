"""How the chat routes answer a turn: the reply's wire form (recorded in the transaction that
records the turn, with its ``Idempotency-Key``), retrieval and agent turns, the events of a
stream, replays, and giving a turn back whatever ends it (an error, a client gone)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import httpx
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..chat import retrieve, sse, words
from ..chat.agent import Agent, Budget, Event
from ..chat.models import AnthropicChat, ChatModel, OpenAIChat
from ..chat.retrieval import Answer
from ..chat.schemas import MessageSend
from ..chat.tools import Toolbox
from ..db.models import ChatMessage, ChatSession, File
from ..errors import ServiceUnavailable
from ..exhaustion import unavailable_cause
from ..jobs.steps.variants import THUMBNAIL
from ..providers.llm import model_client
from ..services import chat as chat_service
from ..services.idempotency import Answer as StoredAnswer
from ..settings import Settings
from .deps import AppState
from .ingest import signed_url
from .replay import Replay

__all__ = [
    "Reply",
    "agent_stream",
    "agent_turn",
    "answer_from_library",
    "close_events",
    "history_of",
    "refusal",
    "release",
    "replayed",
    "replayed_stream",
    "stream_ended",
]

logger = logging.getLogger("scopix_server.chat")


@dataclass
class Reply:
    """The answer of a turn as it is recorded: filled in the transaction that records it, so
    that an ``Idempotency-Key`` stores the same answer (``Replay.remember``) in that commit."""

    request: Request
    state: AppState
    turn: chat_service.Turn
    mode: str
    replay: Replay | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    async def record(self, db: AsyncSession, message: ChatMessage) -> None:
        row = self.turn.row  # (as it was before this turn: its totals grow by this turn's)
        self.body = {
            "message_id": message.id,
            "content": message.content,
            "token_count": message.token_count or 0,
            "processing_time_ms": message.processing_time_ms or 0,
            "remaining_tokens": max(
                0, chat_service.MAX_TOKENS - row.total_tokens - (message.token_count or 0)
            ),
            "remaining_messages": max(0, chat_service.MAX_MESSAGES - row.total_messages - 2),
            "mode": self.mode,
            "image_context": await _image_context(
                db, self.request, self.state, row.tenant_id, message.image_context or []
            ),
            "citations": self.citations,
        }
        if self.replay is not None:
            await self.replay.remember(db, 200, self.body)

    def complete(self, processing_time_ms: int | None = None) -> dict[str, Any]:
        """The data of the stream's ``complete`` token."""
        return _completed(self.body, processing_time_ms)


def _completed(body: dict[str, Any], processing_time_ms: int | None = None) -> dict[str, Any]:
    """The data of a stream's ``complete`` token, from the answer's JSON body."""
    data = {k: v for k, v in body.items() if k not in ("content", "image_context")}
    if processing_time_ms is not None:
        data["processing_time_ms"] = processing_time_ms
    return data


async def answer_from_library(
    body: MessageSend,
    session: AsyncSession,
    state: AppState,
    turn: chat_service.Turn,
    reply: Reply,
) -> Answer:
    """One turn in retrieval mode, recorded (``reply`` holds its wire form)."""
    answer = await retrieve(
        session,
        state.searcher,
        turn.row,
        body.message,
        expected_image_ids=body.expected_image_ids or (),
    )
    reply.citations = answer.citations()
    details = {
        "mode": "retrieval",
        "search_mode": answer.search_mode,
        "citations": reply.citations,
        "passages": answer.passages_out(),
    }
    await chat_service.end_turn(
        session,
        turn,
        answer=answer.content,
        image_context=answer.image_context(),
        details=details,
        on_record=partial(reply.record, session),
    )
    return answer


async def _image_context(
    db: AsyncSession,
    request: Request,
    state: AppState,
    tenant_id: str,
    images: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The images an answer showed that are still in the library, with thumbnail URLs signed
    now (a replayed answer's first URLs may have expired)."""
    ids = [i["image_id"] for i in images]
    found = select(File).where(
        File.tenant_id == tenant_id, File.id.in_(ids), File.deleted_at.is_(None)
    )
    files = {r.id: r for r in (await db.scalars(found)).all()}
    return [
        {**i, "thumbnail_url": _thumbnail(request, state, files[i["image_id"]])}
        for i in images
        if i["image_id"] in files
    ]


def _thumbnail(request: Request, state: AppState, row: File) -> str | None:
    return signed_url(request, state, row, download=False, variant=THUMBNAIL)


async def replayed(
    stored: StoredAnswer, db: AsyncSession, request: Request, state: AppState, tenant_id: str
) -> dict[str, Any]:
    """A stored answer's body, its images still in the library signed anew."""
    body = dict(stored.body)
    if "image_context" in body:
        body["image_context"] = await _image_context(
            db, request, state, tenant_id, body["image_context"]
        )
    return body


async def replayed_stream(session_id: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
    """A stored answer told again as the events of a stream."""
    yield sse("connection", data={"session_id": session_id, "mode": body.get("mode")})
    yield sse("image_results", data={"images": body.get("image_context", [])})
    for piece in words(str(body.get("content", ""))):
        yield sse("token", piece)
    yield sse("complete", data=_completed(body))
    yield sse("close")


async def stream_ended(state: AppState, turn: chat_service.Turn, replay: Replay) -> None:
    """However an agent's stream ended: a turn not recorded is given up, and its key with it."""
    await chat_service.give_up(state.sessions, turn)
    await replay.release(state)


# --- agent mode: a chat model with tools ---

HISTORY = 20  # earlier messages given to the model


async def history_of(session: AsyncSession, row: ChatSession) -> list[dict[str, str]]:
    earlier = await chat_service.messages_of(session, row, limit=HISTORY)
    return [{"role": m.role, "content": m.content} for m in earlier]


def _chat_model(settings: Settings, client: httpx.AsyncClient) -> ChatModel:
    url, model = settings.resolved_chat_base_url, settings.resolved_chat_model
    key = settings.resolved_chat_api_key
    if settings.chat_provider == "anthropic":
        assert key is not None  # (the settings refuse an anthropic chat provider without one)
        return AnthropicChat(client, base_url=url, model=model, api_key=key)
    return OpenAIChat(client, base_url=url, model=model, api_key=key)


async def agent_turn(
    state: AppState,
    turn: chat_service.Turn,
    history: list[dict[str, str]],
    body: MessageSend,
    reply: Reply,
) -> AsyncGenerator[Event, None]:
    """The agent's events for ``turn``, which ends recorded (``complete``: ``reply`` holds the
    answer) or given up (``error``, or the client gone): the session is never left held."""
    settings = state.settings
    agent_budget = Budget(
        steps=settings.chat_max_steps,
        tokens=settings.chat_max_tokens,
        seconds=settings.chat_timeout_seconds,
    )
    recorded = False
    async with state.sessions() as db, model_client(settings.provider_timeout_seconds) as client:
        try:
            agent = Agent(_chat_model(settings, client), agent_budget)
            toolbox = Toolbox(db, state.searcher, turn.row)
            async for event in agent.run(history, body.message, toolbox):
                if event.kind == "complete":
                    data = event.data or {}
                    reply.citations = data.get("citations", [])
                    await chat_service.end_turn(
                        db,
                        turn,
                        answer=event.content or "",
                        token_count=int(data.get("tokens", 0)),
                        image_context=toolbox.images_found,
                        details={
                            "mode": "agent",
                            "steps": data.get("steps"),
                            "citations": reply.citations,
                        },
                        on_record=partial(reply.record, db),
                    )
                    recorded = True
                yield event
        finally:
            if not recorded:
                await release(db, state, turn)


async def agent_stream(
    state: AppState,
    turn: chat_service.Turn,
    history: list[dict[str, str]],
    body: MessageSend,
    reply: Reply,
) -> AsyncIterator[bytes]:
    yield sse("connection", data={"session_id": turn.row.id, "mode": "agent"})
    events = agent_turn(state, turn, history, body, reply)
    try:
        async for event in events:
            if event.kind == "complete":  # (its text came as the tokens before it)
                yield sse("complete", data=reply.complete())
            else:
                yield sse(event.kind, event.content, event.data)
    except Exception as error:  # (a bug, the database gone: said so, not a stream cut short)
        cause = unavailable_cause(error)
        logger.log(
            logging.WARNING if cause else logging.ERROR,
            "chat turn in session %s failed: %s",
            turn.row.id,
            cause or "unexpected error",
            exc_info=error,
        )
        message = (
            f"{cause}; try again later"
            if cause
            else "the server failed while answering; "
            "the operator can find the error in the server log"
        )
        yield sse("error", data={"code": "server_error", "message": message})
    finally:
        await close_events(events)  # (the client may be gone: the turn still ends cleanly)
    yield sse("close")


# how a failed turn may go another time: the same question may work then (the model was busy,
# slow or unreachable); or it would fail the same way (a budget spent, a refused request)
_RETRYABLE = frozenset({"timeout", "rate_limit", "vlm_error"})


def refusal(data: dict[str, Any]) -> ServiceUnavailable:
    code = str(data.get("code") or "unknown")
    retryable = code in _RETRYABLE
    return ServiceUnavailable(
        f"the chat model could not answer: {data.get('message')}",
        details={"error_type": code, "is_retryable": retryable},
        # (clients that honour it, as the Scopix SDK does, do not ask the model again)
        headers={"X-Should-Retry": "true" if retryable else "false"},
    )


async def release(session: AsyncSession, state: AppState, turn: chat_service.Turn) -> None:
    """Unless ``turn`` was recorded: its work in ``session`` is undone and the chat session is
    given back (the question refunded), whatever ended it (an error, the client gone)."""
    if turn.ended:
        return
    with anyio.CancelScope(shield=True):
        await session.rollback()  # (SQLite: its write lock goes first)
    await chat_service.give_up(state.sessions, turn)


async def close_events(events: AsyncGenerator[Event, None]) -> None:
    """Finish the turn's generator now, even under cancellation (it releases the session)."""
    with anyio.CancelScope(shield=True):
        await events.aclose()
