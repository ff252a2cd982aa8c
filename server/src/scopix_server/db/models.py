"""Database tables. Every row that holds tenant data carries ``tenant_id``; queries filter on it.

Ids are UUID strings (36 characters) so that the same schema runs on SQLite and PostgreSQL.
Timestamps are stored in UTC.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine, UserDefinedType

__all__ = [
    "ChatMessage",
    "ChatSession",
    "DirectUpload",
    "Base",
    "Tenant",
    "ApiKey",
    "File",
    "UploadSession",
    "IdempotencyRecord",
    "Job",
    "ObjectClaim",
    "Chunk",
    "Embedding",
    "UsageCounter",
    "new_id",
    "utcnow",
]


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class PgVector(UserDefinedType[str]):
    """pgvector's ``vector`` (any dimension), sent and read in its text form ``[1,2,3]``."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


class VectorType(TypeDecorator[bytes]):
    """A float32 vector, as little-endian bytes in Python; pgvector on PostgreSQL."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        import numpy as np  # (numpy is loaded by then; the models module stays light)

        return "[" + ",".join(map(repr, np.frombuffer(value, dtype="<f4").tolist())) + "]"

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        import numpy as np

        numbers = str(value).strip("[]")
        return np.array(numbers.split(",") if numbers else [], dtype="<f4").tobytes()


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    tier: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # GET /files?safe=true hides pictures scored at or over this (0-1)
    safety_threshold: Mapped[float] = mapped_column(Float, default=0.8, server_default="0.8")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(8), unique=True)  # public part: scopix_<key_id>
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the whole key
    name: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    scopes: Mapped[list[Any]] = mapped_column(default=list)  # read, write; empty: both
    key_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the client's own


class UploadSession(Base):
    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    total_files: Mapped[int] = mapped_column(Integer, default=0)
    accepted_files: Mapped[int] = mapped_column(Integer, default=0)
    rejected_files: Mapped[int] = mapped_column(Integer, default=0)
    skipped_files: Mapped[int] = mapped_column(Integer, default=0)  # duplicates not stored again
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DirectUpload(Base):
    """A file sent straight to storage (one PUT, or parts), recorded once ``complete`` checks it.

    ``state``: ``pending`` (URLs handed out), ``completed`` (``file_id`` is the stored file),
    ``aborted``, ``failed`` (the bytes did not match; nothing kept) or ``expired``.
    """

    __tablename__ = "direct_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(String(36))  # reserved for the file it becomes
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(80), default=None)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # UploadOptions.to_json()
    method: Mapped[str] = mapped_column(String(16))  # single | multipart
    part_size: Mapped[int] = mapped_column(BigInteger)
    part_count: Mapped[int] = mapped_column(Integer)
    # the object store's id for it (S3: the UploadId of its multipart upload)
    storage_upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_tenant_hash", "tenant_id", "content_hash"),
        Index("ix_files_tenant_created", "tenant_id", "created_at"),
        Index("ix_files_object_key", "object_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("upload_sessions.id", ondelete="SET NULL"), default=None, index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255), default=None)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    media_type: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(71))  # "sha256:<64 hex>"
    object_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    content_category: Mapped[str] = mapped_column(String(32), default="general")
    folder_id: Mapped[str | None] = mapped_column(String(36), default=None)
    project_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # description (filled by the processing pipeline)
    description_status: Mapped[str] = mapped_column(String(16), default="pending")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    visible_text: Mapped[str | None] = mapped_column(Text, default=None)
    text_regions: Mapped[list[Any] | None] = mapped_column(default=None)
    confidence_score: Mapped[float | None] = mapped_column(Float, default=None)
    description_error: Mapped[str | None] = mapped_column(Text, default=None)
    description_error_type: Mapped[str | None] = mapped_column(String(32), default=None)
    description_is_retryable: Mapped[bool | None] = mapped_column(Boolean, default=None)
    # description providers that failed while the others described the file (a model that
    # cannot be reached, so only `basic` answered): [{provider, error_type, message}]
    provider_errors: Mapped[list[Any]] = mapped_column(default=list)
    # image facts and renditions
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    format: Mapped[str | None] = mapped_column(String(16), default=None)
    content_created_at: Mapped[datetime | None] = mapped_column(default=None)
    # what decoding found, for the description job (processing.ImageFacts, as JSON)
    image_facts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # what the local vision models saw (vision.Sight, as JSON), and its safety score again
    vision: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    safety_score: Mapped[float | None] = mapped_column(Float, default=None)
    # set once, when its process job queues its describe job (one conditional update)
    handed_over_at: Mapped[datetime | None] = mapped_column(default=None)
    blur_hash: Mapped[str | None] = mapped_column(String(100), default=None)
    variant_status: Mapped[str] = mapped_column(String(16), default="pending")
    # documents
    page_count: Mapped[int | None] = mapped_column(Integer, default=None)
    chunk_count: Mapped[int | None] = mapped_column(Integer, default=None)
    text_extraction_status: Mapped[str | None] = mapped_column(String(16), default=None)
    text_key: Mapped[str | None] = mapped_column(String(255), default=None)  # extracted text
    # what the pipeline found (tags above are the user's; ai_tags are the description's)
    ai_tags: Mapped[list[Any] | None] = mapped_column(default=None)
    key_elements: Mapped[list[Any] | None] = mapped_column(default=None)
    analysis_level: Mapped[str | None] = mapped_column(String(16), default=None)
    provider_count: Mapped[int | None] = mapped_column(Integer, default=None)
    variants: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # name -> object key
    # search by meaning: the vectors of the file (``embeddings``), by which model, and how it went
    embedding_status: Mapped[str] = mapped_column(String(16), default="pending")
    embedding_model: Mapped[str | None] = mapped_column(String(120), default=None)
    embedding_error: Mapped[str | None] = mapped_column(Text, default=None)
    # a 64-bit difference hash of the picture (16 hex digits), for near-duplicates
    perceptual_hash: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class Job(Base):
    """A unit of background work on one file, leased by one worker at a time.

    Due jobs run by ``priority`` (higher first: someone is waiting on them), then oldest first.

    ``state``: ``queued`` (waits for ``run_after``), ``running`` (leased until
    ``lease_expires_at``; an expired lease means its worker died, and the job runs again),
    ``done`` or ``failed``.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_priority_run_after", "state", "priority", "run_after"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # process | describe | embed
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first (analyze: 1)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Chunk(Base):
    """A piece of a document's text (about 1,000 characters, overlapping its neighbours)."""

    __tablename__ = "chunks"

    file_id: Mapped[str] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    page_numbers: Mapped[list[Any]] = mapped_column(default=list)


class Embedding(Base):
    """One vector of a file: its caption or visible text (images), its summary or a chunk.

    ``id`` only grows, so a reader can load the rows written since it last looked. The vector is
    float32 little-endian bytes on SQLite and a pgvector ``vector`` on PostgreSQL.
    """

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_model_tenant", "model", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    part: Mapped[str] = mapped_column(String(16))  # caption | text | summary | chunk | title
    chunk_index: Mapped[int | None] = mapped_column(Integer, default=None)
    model: Mapped[str] = mapped_column(String(120))
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(VectorType())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Person(Base):
    """A group of faces that the face descriptors say are one person (people grouping on)."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaceRecord(Base):
    """One face found in a file, with its descriptor (kept only while people grouping is on)."""

    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    box: Mapped[dict[str, Any]] = mapped_column()
    confidence: Mapped[float] = mapped_column(Float)
    descriptor: Mapped[bytes] = mapped_column(LargeBinary)  # 128 float32, little-endian
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a POST with an ``Idempotency-Key``, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)  # None: in progress
    body: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    owner: Mapped[str | None] = mapped_column(String(36), default=None)  # the request holding it


class ObjectClaim(Base):
    """Requests about to record a shared object: while ``claims`` > 0 it is not deleted.

    The row is also the object's lock: whoever deletes the object or decides on its duplicates
    writes this row first (see ``services.objects``).
    """

    __tablename__ = "object_claims"

    object_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageCounter(Base):
    """Accepted uploads and chat questions per tenant and calendar month (``YYYY-MM``)."""

    __tablename__ = "usage_counters"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    uploads: Mapped[int] = mapped_column(Integer, default=0)
    chat_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ChatSession(Base):
    """A conversation about the tenant's library, with the files it may use (none pinned: all
    of them, unless ``use_all_images`` is off)."""

    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    use_all_images: Mapped[bool] = mapped_column(Boolean, default=True)
    image_ids: Mapped[list[Any]] = mapped_column(default=list)  # pinned images
    document_ids: Mapped[list[Any]] = mapped_column(default=list)  # pinned documents
    total_messages: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # a turn being answered holds the session (a conditional update takes it): one at a time
    turn_started_at: Mapped[datetime | None] = mapped_column(default=None)


class ChatMessage(Base):
    """One message of a session; ``position`` orders them (unique per session)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ux_chat_messages_session_position", "session_id", "position", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int | None] = mapped_column(Integer, default=None)
    processing_time_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    image_context: Mapped[list[Any] | None] = mapped_column(default=None)  # images cited
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # mode, passages cited
