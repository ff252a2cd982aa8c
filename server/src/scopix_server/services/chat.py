"""Chat sessions and their messages: create, list, read, pin files, close, and record a turn.

Whatever checks and then acts is decided by the database: a turn takes its session with one
conditional update (``turn_started_at``), so two messages sent at once to one session are
answered one after the other (the second gets 409); messages take their ``position`` from that
held session, and ``(session_id, position)`` is unique.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import ChatMessage, ChatSession, File, Tenant, utcnow
from ..errors import Conflict, NotFound, QuotaExceeded
from .quota import refund_chat_message, reserve_chat_message
from .uploads import visible_text

__all__ = [
    "MAX_MESSAGES",
    "MAX_TOKENS",
    "Turn",
    "begin_turn",
    "close_session",
    "create_session",
    "end_turn",
    "get_session",
    "give_up",
    "list_sessions",
    "messages_of",
    "message_out",
    "pin",
    "summary",
]

MAX_MESSAGES = 200  # messages in one session (questions and answers)
MAX_TOKENS = 200_000  # model tokens one session may use
TURN_LEASE = timedelta(minutes=10)  # a turn whose server died is given up after this
_PREVIEW = 120


def _title_of(text: str) -> str:
    line = " ".join(visible_text(text).split())
    return line if len(line) <= 60 else line[:57] + "..."


async def _live_ids(
    session: AsyncSession, tenant_id: str, ids: list[str], media_type: str
) -> list[str]:
    """``ids`` (lower-cased, first occurrence kept) once each is the tenant's live ``media_type``
    file; otherwise a 404 that names the first unknown one."""
    wanted = list(dict.fromkeys(i.lower() for i in ids))
    if not wanted:
        return []
    found = set(
        (
            await session.scalars(
                select(File.id).where(
                    File.tenant_id == tenant_id,
                    File.deleted_at.is_(None),
                    File.media_type == media_type,
                    File.id.in_(wanted),
                )
            )
        ).all()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(
            f"{len(missing)} of the {media_type} ids are not {media_type}s of this tenant "
            f"(first: {missing[0]}); list them with GET /files?media_types={media_type}",
            details={"unknown_ids": missing[:50]},
        )
    return wanted


async def create_session(
    session: AsyncSession,
    tenant_id: str,
    *,
    title: str | None,
    image_ids: list[str] | None,
    use_all_images: bool,
) -> ChatSession:
    pinned = await _live_ids(session, tenant_id, image_ids or [], "image")
    row = ChatSession(
        tenant_id=tenant_id,
        title=" ".join(visible_text(title or "").split()) or "New chat",
        use_all_images=use_all_images,
        image_ids=pinned,
        document_ids=[],
    )
    session.add(row)
    await session.commit()
    return row


async def get_session(session: AsyncSession, tenant_id: str, session_id: str) -> ChatSession:
    row = await session.get(ChatSession, session_id.lower())
    if row is None or row.tenant_id != tenant_id:  # (another tenant's: the same 404)
        raise NotFound(f"chat session {session_id} not found")
    return row


async def list_sessions(
    session: AsyncSession, tenant_id: str, *, limit: int, offset: int, active_only: bool
) -> tuple[list[ChatSession], int]:
    where = [ChatSession.tenant_id == tenant_id]
    if active_only:
        where.append(ChatSession.closed_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(ChatSession).where(*where))
    rows = await session.scalars(
        select(ChatSession)
        .where(*where)
        .order_by(
            func.coalesce(ChatSession.last_message_at, ChatSession.created_at).desc(),
            ChatSession.id,
        )
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), int(total or 0)


async def messages_of(
    session: AsyncSession, row: ChatSession, *, limit: int | None = None
) -> list[ChatMessage]:
    """The session's messages in order; with ``limit``, the last ``limit`` of them."""
    query = select(ChatMessage).where(ChatMessage.session_id == row.id)
    if limit is None:
        return list((await session.scalars(query.order_by(ChatMessage.position))).all())
    last = await session.scalars(query.order_by(ChatMessage.position.desc()).limit(limit))
    return list(reversed(last.all()))


def message_out(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "token_count": message.token_count,
        "processing_time_ms": message.processing_time_ms,
        "created_at": message.created_at,
        "image_context": message.image_context,
        "metadata": message.details,
    }


async def summary(session: AsyncSession, row: ChatSession) -> dict[str, Any]:
    last = await messages_of(session, row, limit=2)
    last_user = next((m.content for m in reversed(last) if m.role == "user"), None)
    preview = last[-1].content if last else None
    return {
        "id": row.id,
        "title": row.title,
        "total_messages": row.total_messages,
        "total_tokens": row.total_tokens,
        "remaining_tokens": max(0, MAX_TOKENS - row.total_tokens),
        "remaining_messages": max(0, MAX_MESSAGES - row.total_messages),
        "is_active": row.closed_at is None,
        "use_all_images": row.use_all_images,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "last_message_at": row.last_message_at,
        "last_message_preview": preview[:_PREVIEW] if preview else None,
        "last_user_message": last_user[:_PREVIEW] if last_user else None,
        "selected_image_count": len(row.image_ids),
    }


async def close_session(session: AsyncSession, tenant_id: str, session_id: str) -> ChatSession:
    """Close it (idempotent: closing a closed session answers as the first close did)."""
    row = await get_session(session, tenant_id, session_id)
    if row.closed_at is None:
        await session.execute(
            update(ChatSession)
            .where(ChatSession.id == row.id, ChatSession.closed_at.is_(None))
            .values(closed_at=utcnow(), updated_at=utcnow())
        )
        await session.commit()
        await session.refresh(row)
    return row


def _open(row: ChatSession) -> None:
    if row.closed_at is not None:
        raise Conflict(f"chat session {row.id} is closed; create a new one (POST /chat/sessions)")


async def pin(
    session: AsyncSession, tenant_id: str, session_id: str, ids: list[str], media_type: str
) -> ChatSession:
    """Pin the ``media_type`` files (image, document) the session may use (none: all)."""
    row = await get_session(session, tenant_id, session_id)
    _open(row)
    pinned = await _live_ids(session, tenant_id, ids, media_type)
    if media_type == "image":
        row.image_ids = pinned
    else:
        row.document_ids = pinned
    row.updated_at = utcnow()
    await session.commit()
    return row


@dataclass
class Turn:
    """A turn being answered: its session is held until ``end_turn``."""

    row: ChatSession
    question: str
    started: datetime = field(default_factory=utcnow)
    ended: bool = False  # (recorded, or given up)


async def begin_turn(session: AsyncSession, tenant: Tenant, session_id: str, question: str) -> Turn:
    """Take the session for one turn (409 while another turn is being answered, or when it is
    closed or full) and count the question against the tier's monthly limit (403 past it)."""
    row = await get_session(session, tenant.id, session_id)
    _open(row)
    if row.total_messages + 2 > MAX_MESSAGES:
        raise Conflict(
            f"chat session {row.id} has reached its {MAX_MESSAGES} messages; "
            "start a new session (POST /chat/sessions)"
        )
    if row.total_tokens >= MAX_TOKENS:
        raise Conflict(
            f"chat session {row.id} has used its {MAX_TOKENS} tokens; start a new session"
        )
    now = utcnow()
    taken = await session.execute(
        update(ChatSession)
        .where(
            ChatSession.id == row.id,
            ChatSession.closed_at.is_(None),
            or_(
                ChatSession.turn_started_at.is_(None),
                ChatSession.turn_started_at < now - TURN_LEASE,
            ),
        )
        .values(turn_started_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict(
            "another message of this session is being answered; send this one when it is done",
            headers={"Retry-After": "2"},
        )
    try:
        await reserve_chat_message(session, tenant)
    except QuotaExceeded:
        await session.rollback()  # (the session is not taken either)
        raise
    await session.commit()
    await session.refresh(row)
    return Turn(row, question, row.turn_started_at or now)  # (as stored: end_turn matches it)


async def give_up(sessions: async_sessionmaker[AsyncSession], turn: Turn) -> None:
    """Give the session back and refund the question, unless the turn has ended already (or
    was taken over once its lease ran out); safe to call from any ``finally``."""
    if turn.ended:
        return
    with anyio.CancelScope(shield=True):
        async with sessions() as session:
            with contextlib.suppress(Conflict):
                await end_turn(session, turn, answer=None)


async def end_turn(
    session: AsyncSession,
    turn: Turn,
    *,
    answer: str | None,
    token_count: int = 0,
    image_context: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
    on_record: Callable[[ChatMessage], Awaitable[None]] | None = None,
) -> ChatMessage | None:
    """Record the question and its answer (``answer`` None: nothing is recorded, the turn was
    given up) and give the session back, in one transaction; ``on_record`` runs in it, with the
    answer's message (the session's row still has its totals from before the turn)."""
    row = turn.row
    now = utcnow()
    reply = None
    values: dict[str, Any] = {"turn_started_at": None}
    if answer is not None:
        values.update(
            total_messages=ChatSession.total_messages + 2,
            total_tokens=ChatSession.total_tokens + token_count,
            last_message_at=now,
            updated_at=now,
        )
        if row.total_messages == 0 and row.title == "New chat":
            values["title"] = _title_of(turn.question)
    held = await session.execute(
        update(ChatSession)
        .where(ChatSession.id == row.id, ChatSession.turn_started_at == turn.started)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict("this turn took too long and was given up; send the message again")
    if answer is None:
        await refund_chat_message(session, row.tenant_id)
    if answer is not None:
        took = round((now - turn.started).total_seconds() * 1000)
        position = row.total_messages
        question = ChatMessage(
            session_id=row.id,
            tenant_id=row.tenant_id,
            position=position + 1,
            role="user",
            content=turn.question,
            created_at=turn.started,
        )
        reply = ChatMessage(
            session_id=row.id,
            tenant_id=row.tenant_id,
            position=position + 2,
            role="assistant",
            content=answer,
            token_count=token_count,
            processing_time_ms=took,
            created_at=now,
            image_context=image_context,
            details=details,
        )
        session.add_all([question, reply])
        await session.flush()
        if on_record is not None:
            await on_record(reply)
    await session.commit()
    turn.ended = True
    # (the turn may end in another database session than it began: the row is read afresh)
    fresh = await session.get(ChatSession, row.id, populate_existing=True)
    if fresh is not None:
        turn.row = fresh
    return reply
