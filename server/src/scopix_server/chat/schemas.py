"""Wire shapes of the chat routes (``/chat/sessions...``), in the hosted API's names."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..schemas import FileId

__all__ = [
    "ChatMessageOut",
    "ChatSessionCreate",
    "ChatSessionCreated",
    "ChatSessionClosed",
    "ChatSessionDetail",
    "ChatSessionList",
    "ChatSessionSummary",
    "DocumentsPinned",
    "DocumentsUpdate",
    "ImagesPinned",
    "ImagesUpdate",
    "MessageSend",
    "MessageSent",
    "TOKEN_TYPES",
]

MAX_PINNED = 500

# what a stream may carry (the hosted service's ChatTokenType, less the client-side ones)
TOKEN_TYPES = (
    "connection", "status", "thinking", "thinking_step", "tool_invocation", "tool_result",
    "image_results", "token", "complete", "error", "ping", "close",
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatSessionCreate(_Model):
    title: str | None = Field(
        None, max_length=200, description="Named after the first message if absent."
    )
    initial_image_ids: list[FileId] | None = Field(
        None, max_length=MAX_PINNED, description="Images pinned from the start."
    )
    use_all_images: StrictBool = Field(
        True, strict=True, description="With no image pinned, the whole library may be used."
    )


class ChatSessionCreated(_Model):
    session_id: str
    title: str
    created_at: datetime


class ChatSessionSummary(_Model):
    id: str
    title: str
    total_messages: int
    total_tokens: int
    remaining_tokens: int
    remaining_messages: int
    is_active: bool
    use_all_images: bool
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    last_message_preview: str | None
    last_user_message: str | None
    selected_image_count: int


class ChatSessionList(_Model):
    sessions: list[ChatSessionSummary]
    total_count: int
    has_more: bool


class ChatMessageOut(_Model):
    id: str
    role: Literal["user", "assistant"]
    content: str
    token_count: int | None
    processing_time_ms: int | None
    created_at: datetime
    image_context: list[dict[str, Any]] | None = Field(
        None, description="The images the answer cites."
    )
    metadata: dict[str, Any] | None = Field(
        None, description="How it was answered (mode) and the passages it cites."
    )


class ChatSessionDetail(_Model):
    session: ChatSessionSummary
    messages: list[ChatMessageOut]
    selected_image_ids: list[str]
    selected_document_ids: list[str]
    selected_video_ids: list[str] = Field(default_factory=list)
    context_summary: str | None


class ChatSessionClosed(_Model):
    session_id: str
    closed_at: datetime
    total_messages: int
    total_tokens: int


class MessageSend(_Model):
    message: str = Field(min_length=1, max_length=10_000)
    force_detailed_analysis: StrictBool = Field(
        False,
        strict=True,
        description="Accepted for compatibility; answers here always read the files.",
    )
    expected_image_ids: list[FileId] | None = Field(
        None,
        max_length=MAX_PINNED,
        description="Images the answer should consider first (among those the session may use).",
    )


class MessageSent(_Model):
    message_id: str
    content: str
    token_count: int
    processing_time_ms: int
    remaining_tokens: int
    remaining_messages: int
    mode: Literal["retrieval", "agent"] = Field(
        description="retrieval: no language model is configured; the best matching files and "
        "passages, no generated text"
    )
    image_context: list[dict[str, Any]] = Field(description="The images the answer cites.")
    citations: list[dict[str, Any]] = Field(
        description="Every file the answer cites: {file_id, media_type, filename, pages?}"
    )


class ImagesUpdate(_Model):
    image_ids: list[FileId] = Field(max_length=MAX_PINNED)


class ImagesPinned(_Model):
    session_id: str
    selected_image_ids: list[str]
    selected_video_ids: list[str] = Field(default_factory=list)
    context_summary: str | None
    estimated_tokens: int


class DocumentsUpdate(_Model):
    document_ids: list[FileId] = Field(default_factory=list, max_length=MAX_PINNED)


class DocumentsPinned(_Model):
    session_id: str
    selected_document_ids: list[str]
    document_count: int
