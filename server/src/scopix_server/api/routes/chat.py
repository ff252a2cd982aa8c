"""``/chat/sessions``: conversations about the tenant's library, answered in one piece or as
server-sent events. Without a chat model configured, answers are in retrieval mode: the files
and passages that best match, and a sentence saying that no model wrote them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ...chat import sse, words
from ...chat.agent import Event
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
from ...db.models import ChatSession
from ...services import chat as chat_service
from ..chat_turns import (
    Reply,
    agent_stream,
    agent_turn,
    answer_from_library,
    close_events,
    history_of,
    refusal,
    release,
    replayed,
    replayed_stream,
    stream_ended,
)
from ..deps import AuthDep, SessionDep, StateDep
from ..openapi import errors
from ..replay import claim, idempotent
from ..streaming import ClosingStreamingResponse, EventStreamResponse

__all__ = ["router"]

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
            answered = await replayed(replay.stored, session, request, state, auth.tenant.id)
            return JSONResponse(answered, status_code=replay.stored.status_code)
        turn = await chat_service.begin_turn(session, auth.tenant, session_id, body.message)
        try:
            if state.settings.chat_provider == "none":
                reply = Reply(request, state, turn, "retrieval", replay)
                await answer_from_library(body, session, state, turn, reply)
                return reply.body
            reply = Reply(request, state, turn, "agent", replay)
            history = await history_of(session, turn.row)
            await session.close()  # (the turn uses a database session of its own)
            final: Event | None = None
            events = agent_turn(state, turn, history, body, reply)
            try:
                async for event in events:
                    if event.kind in ("complete", "error"):
                        final = event
            finally:
                await close_events(events)
            assert final is not None
            if final.kind == "error":
                raise refusal(final.data or {})
            return reply.body
        finally:
            await release(session, state, turn)


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
        answered = await replayed(replay.stored, session, request, state, auth.tenant.id)
        return ClosingStreamingResponse(
            replayed_stream(session_id.lower(), answered),
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
            history = await history_of(session, turn.row)
            await session.close()  # (the stream uses a database session of its own)
            reply = Reply(request, state, turn, "agent", replay)
            return EventStreamResponse(
                agent_stream(state, turn, history, body, reply),
                ping=sse("ping"),
                interval=state.settings.chat_keepalive_seconds,
                headers=headers,
                # (also when the client hangs up at once and the stream never starts)
                on_close=partial(stream_ended, state, turn, replay),
            )
        reply = Reply(request, state, turn, "retrieval", replay)
        answer = await answer_from_library(body, session, state, turn, reply)
    except BaseException:
        await release(session, state, turn)
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
