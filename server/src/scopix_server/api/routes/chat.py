"""``/chat/sessions``: conversations about the tenant's library, answered in one piece or as
server-sent events. Without a chat model configured, answers are in retrieval mode: the files
and passages that best match, and a sentence saying that no model wrote them."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...chat import retrieve, sse, words
from ...chat.agent import Agent, Budget, Event
from ...chat.models import AnthropicChat, ChatModel, OpenAIChat
from ...chat.retrieval import Answer
from ...chat.schemas import (
    TOKEN_TYPES,
    ChatSessionClosed,
    ChatSessionCreate,
    ChatSessionCreated,
    ChatSessionDetail,
    ChatSessionList,
    DocumentsPinned,
    DocumentsUpdate,
    ImagesPinned,
    ImagesUpdate,
    MessageSend,
    MessageSent,
)
from ...chat.tools import Toolbox
from ...db.models import ChatMessage, ChatSession, File
from ...errors import ServiceUnavailable
from ...exhaustion import unavailable_cause
from ...jobs.steps.variants import THUMBNAIL
from ...providers.llm import model_client
from ...services import chat as chat_service
from ...services.idempotency import Answer as StoredAnswer
from ...settings import Settings
from ..deps import AppState, AuthDep, SessionDep, StateDep
from ..ingest import signed_url
from ..openapi import errors
from ..replay import Replay, claim, idempotent
from ..streaming import ClosingStreamingResponse, EventStreamResponse

__all__ = ["router"]

logger = logging.getLogger("scopix_server.chat")

router = APIRouter(tags=["chat"])
SessionId = str


@router.post(
    "/chat/sessions",
    response_model=ChatSessionCreated,
    status_code=201,
    summary="Start a chat session",
    responses=errors(404, 422),
)
async def create(body: ChatSessionCreate, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    row = await chat_service.create_session(
        session,
        auth.tenant.id,
        title=body.title,
        image_ids=body.initial_image_ids,
        use_all_images=body.use_all_images,
    )
    return {"session_id": row.id, "title": row.title, "created_at": row.created_at}


@router.get("/chat/sessions", response_model=ChatSessionList, summary="The tenant's chat sessions")
async def list_sessions(
    auth: AuthDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    active_only: Annotated[bool, Query(description="Only sessions not closed.")] = False,
) -> dict[str, Any]:
    rows, total = await chat_service.list_sessions(
        session, auth.tenant.id, limit=limit, offset=offset, active_only=active_only
    )
    return {
        "sessions": [await chat_service.summary(session, row) for row in rows],
        "total_count": total,
        "has_more": offset + len(rows) < total,
    }


def _context(row: ChatSession) -> str:
    images = f"{len(row.image_ids)} pinned image(s)" if row.image_ids else None
    documents = f"{len(row.document_ids)} pinned document(s)" if row.document_ids else None
    if not images and not row.use_all_images:
        images = "no images"
    scope = ", ".join(x for x in (images, documents) if x)
    return f"Uses {scope or 'the whole library'}."


@router.get(
    "/chat/sessions/{session_id}",
    response_model=ChatSessionDetail,
    summary="A chat session with its messages",
    responses=errors(404),
)
async def read(
    session_id: SessionId,
    auth: AuthDep,
    session: SessionDep,
    include_messages: bool = True,
    message_limit: Annotated[int | None, Query(ge=1, le=chat_service.MAX_MESSAGES)] = None,
) -> dict[str, Any]:
    row = await chat_service.get_session(session, auth.tenant.id, session_id)
    messages = (
        await chat_service.messages_of(session, row, limit=message_limit)
        if include_messages
        else []
    )
    return {
        "session": await chat_service.summary(session, row),
        "messages": [chat_service.message_out(m) for m in messages],
        "selected_image_ids": list(row.image_ids),
        "selected_document_ids": list(row.document_ids),
        "context_summary": _context(row),
    }


@router.delete(
    "/chat/sessions/{session_id}",
    response_model=ChatSessionClosed,
    summary="Close a chat session (it stays readable)",
    responses=errors(404),
)
async def close(session_id: SessionId, auth: AuthDep, session: SessionDep) -> dict[str, Any]:
    row = await chat_service.close_session(session, auth.tenant.id, session_id)
    return {
        "session_id": row.id,
        "closed_at": row.closed_at,
        "total_messages": row.total_messages,
        "total_tokens": row.total_tokens,
    }


@router.put(
    "/chat/sessions/{session_id}/images",
    response_model=ImagesPinned,
    summary="Pin the images a session may use (none: the whole library, if allowed)",
    responses=errors(404, 409, 422),
)
async def pin_images(
    session_id: SessionId, body: ImagesUpdate, auth: AuthDep, session: SessionDep
) -> dict[str, Any]:
    row = await chat_service.pin(session, auth.tenant.id, session_id, body.image_ids, "image")
    return {
        "session_id": row.id,
        "selected_image_ids": list(row.image_ids),
        "context_summary": _context(row),
        "estimated_tokens": 0,
    }


@router.put(
    "/chat/sessions/{session_id}/documents",
    response_model=DocumentsPinned,
    summary="Pin the documents a session may use (none: every document)",
    responses=errors(404, 409, 422),
)
async def pin_documents(
    session_id: SessionId, body: DocumentsUpdate, auth: AuthDep, session: SessionDep
) -> dict[str, Any]:
    row = await chat_service.pin(session, auth.tenant.id, session_id, body.document_ids, "document")
    return {
        "session_id": row.id,
        "selected_document_ids": list(row.document_ids),
        "document_count": len(row.document_ids),
    }


@dataclass
class _Reply:
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


async def _answer(
    body: MessageSend,
    session: AsyncSession,
    state: AppState,
    turn: chat_service.Turn,
    reply: _Reply,
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


async def _replayed(
    stored: StoredAnswer, db: AsyncSession, request: Request, state: AppState, tenant_id: str
) -> dict[str, Any]:
    """A stored answer's body, its images still in the library signed anew."""
    body = dict(stored.body)
    if "image_context" in body:
        body["image_context"] = await _image_context(
            db, request, state, tenant_id, body["image_context"]
        )
    return body


@router.post(
    "/chat/sessions/{session_id}/messages",
    response_model=MessageSent,
    summary="Ask a question; the answer in one piece",
    description="With an `Idempotency-Key`, a repeat (an SDK retry after a timeout, say) gets "
    "the first answer, waiting for it if it is still being written, and asks nothing again.",
    responses=errors(403, 404, 409, 422, 503),
)
async def send(
    session_id: SessionId,
    body: MessageSend,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
) -> Any:
    asked = body.model_dump(mode="json")
    route = f"chat.send:{session_id.lower()}"
    async with idempotent(request, session, state, auth, route, asked) as replay:
        if replay.stored is not None:
            answered = await _replayed(replay.stored, session, request, state, auth.tenant.id)
            return JSONResponse(answered, status_code=replay.stored.status_code)
        turn = await chat_service.begin_turn(session, auth.tenant, session_id, body.message)
        try:
            if state.settings.chat_provider == "none":
                reply = _Reply(request, state, turn, "retrieval", replay)
                await _answer(body, session, state, turn, reply)
                return reply.body
            reply = _Reply(request, state, turn, "agent", replay)
            history = await _history(session, turn.row)
            await session.close()  # (the turn uses a database session of its own)
            final: Event | None = None
            events = _agent_turn(state, turn, history, body, reply)
            try:
                async for event in events:
                    if event.kind in ("complete", "error"):
                        final = event
            finally:
                await _close(events)
            assert final is not None
            if final.kind == "error":
                raise _refusal(final.data or {})
            return reply.body
        finally:
            await _release(session, state, turn)


@router.post(
    "/chat/sessions/{session_id}/messages/stream",
    summary="Ask a question; the answer as server-sent events",
    description="With an `Idempotency-Key`, a repeat gets the first answer told again as a "
    "stream (waiting for it while it is still being written), and asks nothing again; a turn "
    "that ended in an error keeps no answer, so its key may be used again.",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream: `event: <type>` and a JSON `data` line "
            '`{"type", "content", "data"}` per token (connection, status, image_results, '
            "token, complete, error, ...)",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "description": "one server-sent event",
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": list(TOKEN_TYPES)},
                            "data": {
                                "type": "string",
                                "description": 'JSON: {"type", "content", "data"}',
                            },
                        },
                        "required": ["event", "data"],
                    }
                }
            },
        },
        **errors(403, 404, 409, 422),
    },
)
async def send_stream(
    session_id: SessionId,
    body: MessageSend,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    debug_reasoning: Annotated[  # noqa: ARG001  (the hosted API's; nothing to show here)
        bool, Query(description="Accepted for compatibility (retrieval mode has no reasoning).")
    ] = False,
) -> StreamingResponse:
    started = time.perf_counter()
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    asked = body.model_dump(mode="json")
    # (the key is held until the stream ends; the answer is stored under it when it is recorded)
    replay = await claim(request, state, auth, f"chat.stream:{session_id.lower()}", asked)
    if replay.stored is not None:
        answered = await _replayed(replay.stored, session, request, state, auth.tenant.id)
        return ClosingStreamingResponse(
            _replayed_stream(session_id.lower(), answered),
            media_type="text/event-stream",
            headers=headers,
        )
    try:
        # (the turn is taken before the stream starts: a refusal, e.g. 409 for a busy session,
        # keeps its status)
        turn = await chat_service.begin_turn(session, auth.tenant, session_id, body.message)
    except BaseException:
        await replay.release(state, session)
        raise
    try:
        if state.settings.chat_provider != "none":
            history = await _history(session, turn.row)
            await session.close()  # (the stream uses a database session of its own)
            reply = _Reply(request, state, turn, "agent", replay)
            return EventStreamResponse(
                _agent_stream(state, turn, history, body, reply),
                ping=sse("ping"),
                interval=state.settings.chat_keepalive_seconds,
                headers=headers,
                # (also when the client hangs up at once and the stream never starts)
                on_close=partial(_stream_ended, state, turn, replay),
            )
        reply = _Reply(request, state, turn, "retrieval", replay)
        answer = await _answer(body, session, state, turn, reply)
    except BaseException:
        await _release(session, state, turn)
        await replay.release(state, session)
        raise

    async def tokens() -> AsyncIterator[bytes]:
        yield sse("connection", data={"session_id": turn.row.id, "mode": "retrieval"})
        yield sse("status", "Searched your library (no language model is configured).")
        yield sse("image_results", data={"images": reply.body["image_context"]})
        for piece in words(answer.content):
            yield sse("token", piece)
        took = round((time.perf_counter() - started) * 1000)
        yield sse("complete", data=reply.complete(took))
        yield sse("close")

    return ClosingStreamingResponse(tokens(), media_type="text/event-stream", headers=headers)


async def _replayed_stream(session_id: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
    """A stored answer told again as the events of a stream."""
    yield sse("connection", data={"session_id": session_id, "mode": body.get("mode")})
    yield sse("image_results", data={"images": body.get("image_context", [])})
    for piece in words(str(body.get("content", ""))):
        yield sse("token", piece)
    yield sse("complete", data=_completed(body))
    yield sse("close")


async def _stream_ended(state: AppState, turn: chat_service.Turn, replay: Replay) -> None:
    """However an agent's stream ended: a turn not recorded is given up, and its key with it."""
    await chat_service.give_up(state.sessions, turn)
    await replay.release(state)


# --- agent mode: a chat model with tools ---

HISTORY = 20  # earlier messages given to the model


async def _history(session: AsyncSession, row: ChatSession) -> list[dict[str, str]]:
    earlier = await chat_service.messages_of(session, row, limit=HISTORY)
    return [{"role": m.role, "content": m.content} for m in earlier]


def _chat_model(settings: Settings, client: httpx.AsyncClient) -> ChatModel:
    url, model = settings.resolved_chat_base_url, settings.resolved_chat_model
    key = settings.resolved_chat_api_key
    if settings.chat_provider == "anthropic":
        assert key is not None  # (the settings refuse an anthropic chat provider without one)
        return AnthropicChat(client, base_url=url, model=model, api_key=key)
    return OpenAIChat(client, base_url=url, model=model, api_key=key)


async def _agent_turn(
    state: AppState,
    turn: chat_service.Turn,
    history: list[dict[str, str]],
    body: MessageSend,
    reply: _Reply,
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
                await _release(db, state, turn)


async def _agent_stream(
    state: AppState,
    turn: chat_service.Turn,
    history: list[dict[str, str]],
    body: MessageSend,
    reply: _Reply,
) -> AsyncIterator[bytes]:
    yield sse("connection", data={"session_id": turn.row.id, "mode": "agent"})
    events = _agent_turn(state, turn, history, body, reply)
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
        await _close(events)  # (the client may be gone: the turn still ends cleanly)
    yield sse("close")


# how a failed turn may go another time: the same question may work then (the model was busy,
# slow or unreachable); or it would fail the same way (a budget spent, a refused request)
_RETRYABLE = frozenset({"timeout", "rate_limit", "vlm_error"})


def _refusal(data: dict[str, Any]) -> ServiceUnavailable:
    code = str(data.get("code") or "unknown")
    retryable = code in _RETRYABLE
    return ServiceUnavailable(
        f"the chat model could not answer: {data.get('message')}",
        details={"error_type": code, "is_retryable": retryable},
        # (clients that honour it, as the Scopix SDK does, do not ask the model again)
        headers={"X-Should-Retry": "true" if retryable else "false"},
    )


async def _release(session: AsyncSession, state: AppState, turn: chat_service.Turn) -> None:
    """Unless ``turn`` was recorded: its work in ``session`` is undone and the chat session is
    given back (the question refunded), whatever ended it (an error, the client gone)."""
    if turn.ended:
        return
    with anyio.CancelScope(shield=True):
        await session.rollback()  # (SQLite: its write lock goes first)
    await chat_service.give_up(state.sessions, turn)


async def _close(events: AsyncGenerator[Event, None]) -> None:
    """Finish the turn's generator now, even under cancellation (it releases the session)."""
    with anyio.CancelScope(shield=True):
        await events.aclose()
