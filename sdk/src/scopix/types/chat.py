"""Chat: sessions, messages, answers and the tokens of a streamed answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from .._convert import (
    int_or,
    opt_dict_list,
    opt_int,
    opt_str,
    opt_str_list,
    parse_datetime,
    to_dict,
)

__all__ = [
    "ChatMessage",
    "ChatResponse",
    "ChatSession",
    "ChatSessionDetail",
    "ChatSessionSummary",
    "ChatToken",
    "ChatTokenType",
    "MessageRole",
    "SessionList",
]


class ChatTokenType(str, Enum):
    """What a token of ``chats.send_stream`` carries."""

    TOKEN = "token"  # a piece of the answer's text (``content``)
    STATUS = "status"  # what the server is doing, in words
    IMAGE_RESULTS = "image_results"  # the images found (``data["images"]``)
    COMPLETE = "complete"  # the answer is recorded (``data``: message_id, citations, ...)
    ERROR = "error"  # the turn failed (``data``: code, message)
    RECONNECTING = "reconnecting"  # (client side only)
    THINKING = "thinking"
    THINKING_STEP = "thinking_step"
    TOOL_INVOCATION = "tool_invocation"
    TOOL_RESULT = "tool_result"
    CONNECTION = "connection"  # the stream is open (``data``: session_id, mode)
    PING = "ping"
    CLOSE = "close"  # nothing follows
    AUTH_ERROR = "auth_error"
    UNKNOWN = "unknown"  # a type this SDK does not know yet (``raw`` keeps it)


class MessageRole(str, Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


@dataclass(frozen=True)
class ChatToken:
    """One server-sent event of a streamed answer."""

    type: ChatTokenType
    content: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None  # the event's type as sent

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_event(cls, event: str, payload: Mapping[str, Any]) -> ChatToken:
        name = str(payload.get("type") or event)
        try:
            kind = ChatTokenType(name)
        except ValueError:
            kind = ChatTokenType.UNKNOWN
        data = payload.get("data")
        return cls(
            type=kind,
            content=opt_str(payload.get("content")),
            data=dict(data) if isinstance(data, Mapping) else {},
            raw=name,
        )


@dataclass(frozen=True)
class ChatSession:
    """A session just created."""

    session_id: str
    title: str
    created_at: datetime | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ChatSession:
        ident = opt_str(data.get("session_id"))
        if not ident:
            raise ValueError(f"chat session has no session_id: keys {sorted(data)}")
        return cls(
            session_id=ident,
            title=opt_str(data.get("title")) or "",
            created_at=parse_datetime(data.get("created_at")),
        )


@dataclass(frozen=True)
class ChatSessionSummary:
    id: str
    title: str
    total_messages: int = 0
    total_tokens: int = 0
    remaining_tokens: int = 0
    remaining_messages: int = 0
    is_active: bool = True
    use_all_images: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_message_at: datetime | None = None
    last_message_preview: str | None = None
    last_user_message: str | None = None
    selected_image_count: int = 0

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ChatSessionSummary:
        ident = opt_str(data.get("id"))
        if not ident:
            raise ValueError(f"chat session has no id: keys {sorted(data)}")
        return cls(
            id=ident,
            title=opt_str(data.get("title")) or "",
            total_messages=int_or(data.get("total_messages"), 0),
            total_tokens=int_or(data.get("total_tokens"), 0),
            remaining_tokens=int_or(data.get("remaining_tokens"), 0),
            remaining_messages=int_or(data.get("remaining_messages"), 0),
            is_active=data.get("is_active") is not False,
            use_all_images=data.get("use_all_images") is not False,
            created_at=parse_datetime(data.get("created_at")),
            updated_at=parse_datetime(data.get("updated_at")),
            last_message_at=parse_datetime(data.get("last_message_at")),
            last_message_preview=opt_str(data.get("last_message_preview")),
            last_user_message=opt_str(data.get("last_user_message")),
            selected_image_count=int_or(data.get("selected_image_count"), 0),
        )


@dataclass(frozen=True)
class ChatMessage:
    id: str
    role: MessageRole
    content: str
    token_count: int | None = None
    processing_time_ms: int | None = None
    created_at: datetime | None = None
    image_context: list[dict[str, Any]] | None = None  # the images an answer cites
    metadata: dict[str, Any] | None = None  # mode, citations, passages

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ChatMessage:
        metadata = data.get("metadata")
        try:
            role = MessageRole(str(data.get("role")))
        except ValueError:
            role = MessageRole.SYSTEM
        return cls(
            id=opt_str(data.get("id")) or "",
            role=role,
            content=opt_str(data.get("content")) or "",
            token_count=opt_int(data.get("token_count")),
            processing_time_ms=opt_int(data.get("processing_time_ms")),
            created_at=parse_datetime(data.get("created_at")),
            image_context=opt_dict_list(data.get("image_context")),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else None,
        )


@dataclass(frozen=True)
class ChatSessionDetail:
    session: ChatSessionSummary
    messages: list[ChatMessage]
    selected_image_ids: list[str] = field(default_factory=list)
    selected_document_ids: list[str] = field(default_factory=list)
    context_summary: str | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ChatSessionDetail:
        return cls(
            session=ChatSessionSummary.from_api_response(data.get("session") or {}),
            messages=[ChatMessage.from_api_response(m) for m in data.get("messages") or []],
            selected_image_ids=opt_str_list(data.get("selected_image_ids")) or [],
            selected_document_ids=opt_str_list(data.get("selected_document_ids")) or [],
            context_summary=opt_str(data.get("context_summary")),
        )


@dataclass(frozen=True)
class SessionList:
    sessions: list[ChatSessionSummary]
    total_count: int
    has_more: bool

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> SessionList:
        return cls(
            sessions=[ChatSessionSummary.from_api_response(s) for s in data.get("sessions") or []],
            total_count=int_or(data.get("total_count"), 0),
            has_more=bool(data.get("has_more")),
        )


@dataclass(frozen=True)
class ChatResponse:
    """An answer. ``mode`` "retrieval": no language model is configured on the server; the
    answer lists the best matching files and passages, and says so."""

    message_id: str
    content: str
    token_count: int = 0
    processing_time_ms: int = 0
    remaining_tokens: int = 0
    remaining_messages: int = 0
    mode: str | None = None
    image_context: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)  # {file_id, media_type, ...}

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ChatResponse:
        return cls(
            message_id=opt_str(data.get("message_id")) or "",
            content=opt_str(data.get("content")) or "",
            token_count=int_or(data.get("token_count"), 0),
            processing_time_ms=int_or(data.get("processing_time_ms"), 0),
            remaining_tokens=int_or(data.get("remaining_tokens"), 0),
            remaining_messages=int_or(data.get("remaining_messages"), 0),
            mode=opt_str(data.get("mode")),
            image_context=opt_dict_list(data.get("image_context")) or [],
            citations=opt_dict_list(data.get("citations")) or [],
        )
