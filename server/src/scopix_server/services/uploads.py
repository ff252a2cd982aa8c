"""Turning a parsed upload (form fields + a stored part) into a file row, or a clear refusal."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import PurePosixPath
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import File, Tenant, new_id, utcnow
from ..errors import APIError, BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from ..ids import UUID_PATTERN, canonical_id
from ..schemas import CONTENT_CATEGORIES
from ..storage import PendingObject
from .image_formats import SUPPORTED_FORMATS
from .media import ContainerTooLarge, Refused, confirm_docx, sniff

__all__ = [
    "FORM_BOOLEANS",
    "UUID_TEXT",
    "FilePart",
    "Stored",
    "UploadOptions",
    "check_tags",
    "options_from",
    "parse_options",
    "safe_filename",
    "store_file",
    "visible_text",
]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
FORM_BOOLEANS = (*_TRUE, *_FALSE)
_SPACES = " \t\r\n"  # around a form value (the documented patterns allow these, no more)
UUID_TEXT = re.compile(UUID_PATTERN)  # an id in a form field (folder_id)
# Unicode categories that never belong in a name shown to people: controls, format characters
# (bidi overrides that reverse "gpj.exe" into view, zero-width joiners and spaces, soft
# hyphens, BOMs), surrogates, line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def visible_text(raw: str) -> str:
    """``raw`` in NFC without invisible or direction-changing characters; every other kind of
    space becomes a plain one. For names, titles and tags: what is shown is what is stored."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", raw):
        category = unicodedata.category(char)
        if category in _INVISIBLE:
            continue
        kept.append(" " if category == "Zs" else char)
    return "".join(kept)


@dataclass
class FilePart:
    """One file of a multipart upload, as it is being stored (see ``api.multipart``)."""

    filename: str  # as sent; the declared Content-Type is ignored (the bytes decide)
    pending: PendingObject
    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    too_large: bool = False


@dataclass(frozen=True)
class UploadOptions:
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    auto_describe: bool = True
    skip_duplicates: bool = False
    storage_target: str = "default"
    folder_id: str | None = None
    project_id: str | None = None
    content_category: str = "general"
    custom_schema_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As stored until the file is recorded (a direct upload's ``options``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> UploadOptions:
        """What ``to_json`` stored (names it does not know are left out)."""
        known = {option.name for option in fields(cls)}
        values = {name: value for name, value in stored.items() if name in known}
        values["tags"] = list(values.get("tags") or [])
        return cls(**values)


def _single(fields: dict[str, list[str]], name: str, errors: list[dict[str, str]]) -> str | None:
    values = fields.get(name)
    if not values:
        return None
    if len(values) > 1:
        errors.append({"field": name, "message": "given more than once"})
    return values[0].strip(_SPACES)


def _bool(value: str | None, name: str, default: bool, errors: list[dict[str, str]]) -> bool:
    if value is None or value == "":
        return default
    if value in _TRUE:  # (exactly as documented: lowercase, as forms and clients send them)
        return True
    if value in _FALSE:
        return False
    errors.append(
        {
            "field": name,
            "message": f"expected true, false, 1, 0, yes, no, on or off, got {value[:20]!r}",
        }
    )
    return default


def _uuid(value: str | None, name: str, errors: list[dict[str, str]]) -> str | None:
    if not value:
        return None
    stored = canonical_id(value)  # (the hyphenated form only, as documented)
    if stored is None:
        errors.append({"field": name, "message": "must be a UUID (8-4-4-4-12 hex digits)"})
    return stored


def parse_tags(raw: str | None, errors: list[dict[str, str]], name: str = "tags") -> list[str]:
    """Comma-separated tags (a form field), checked as ``check_tags`` does."""
    return check_tags(raw.split(",") if raw else [], errors, name)


def check_tags(given: Sequence[str], errors: list[dict[str, str]], name: str = "tags") -> list[str]:
    """The tags as stored: visible text, trimmed, each once, at most 40 of 50 characters."""
    tags: list[str] = []
    for tag in (visible_text(t).strip() for t in given):
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > 40:
        errors.append({"field": name, "message": f"at most 40 tags, got {len(tags)}"})
    long = [t for t in tags if len(t) > 50]
    if long:
        errors.append(
            {"field": name, "message": f"a tag is at most 50 characters: {long[0][:60]!r}"}
        )
    return tags


def parse_options(fields: dict[str, list[str]], *, auto_category: bool = False) -> UploadOptions:
    """Validate the shared upload form fields; all problems are reported at once (422).

    With ``auto_category`` (``/images/analyze``), ``content_category=auto`` is accepted: the
    describer gets no category hint, and the file is stored as ``general``.
    """
    errors: list[dict[str, str]] = []
    tags = _single(fields, "tags", errors)
    return _checked(
        errors,
        title=_single(fields, "title", errors),
        tags=tags.split(",") if tags else [],
        auto_describe=_bool(
            _single(fields, "auto_describe", errors), "auto_describe", True, errors
        ),
        skip_duplicates=_bool(
            _single(fields, "skip_duplicates", errors), "skip_duplicates", False, errors
        ),
        storage_target=_single(fields, "storage_target", errors) or "default",
        folder_id=_single(fields, "folder_id", errors),
        project_id=_single(fields, "project_id", errors),
        content_category=_single(fields, "content_category", errors) or "general",
        custom_schema_id=_single(fields, "custom_schema_id", errors),
        auto_category=auto_category,
    )


def options_from(
    *,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    auto_describe: bool = True,
    skip_duplicates: bool = False,
    storage_target: str = "default",
    folder_id: str | None = None,
    project_id: str | None = None,
    content_category: str = "general",
    custom_schema_id: str | None = None,
) -> UploadOptions:
    """The options of a JSON request (direct uploads), checked by the form's rules; tags come
    as a list, so a comma inside one is refused rather than splitting it."""
    errors: list[dict[str, str]] = []
    with_comma = [tag for tag in tags or [] if "," in tag]
    if with_comma:
        errors.append(
            {"field": "tags", "message": f"a tag cannot contain a comma: {with_comma[0][:60]!r}"}
        )

    def trimmed(value: str | None) -> str | None:
        return None if value is None else value.strip(_SPACES)

    return _checked(
        errors,
        title=title,
        tags=list(tags or []),
        auto_describe=auto_describe,
        skip_duplicates=skip_duplicates,
        storage_target=trimmed(storage_target) or "default",
        folder_id=trimmed(folder_id),
        project_id=trimmed(project_id),
        content_category=trimmed(content_category) or "general",
        custom_schema_id=trimmed(custom_schema_id),
    )


def _checked(
    errors: list[dict[str, str]],
    *,
    title: str | None,
    tags: list[str],
    auto_describe: bool,
    skip_duplicates: bool,
    storage_target: str,
    folder_id: str | None,
    project_id: str | None,
    content_category: str,
    custom_schema_id: str | None,
    auto_category: bool = False,
) -> UploadOptions:
    """``UploadOptions`` from values of the right types, or every problem at once (422)."""
    shown_title = visible_text(title or "").strip() or None
    if title is not None and len(title) > 255:  # as sent, as the schema says
        errors.append({"field": "title", "message": f"at most 255 characters, got {len(title)}"})
    checked_tags = check_tags(tags, errors)
    category = content_category
    if auto_category and category == "auto":
        category = "general"
    if category not in CONTENT_CATEGORIES:
        allowed = ("auto", *CONTENT_CATEGORIES) if auto_category else CONTENT_CATEGORIES
        errors.append({"field": "content_category", "message": f"one of {', '.join(allowed)}"})
    if storage_target not in ("default", "custom"):
        errors.append({"field": "storage_target", "message": "one of default, custom"})
    options = UploadOptions(
        title=shown_title,
        tags=checked_tags,
        auto_describe=auto_describe,
        skip_duplicates=skip_duplicates,
        storage_target=storage_target,
        folder_id=_uuid(folder_id, "folder_id", errors),
        project_id=_uuid(project_id, "project_id", errors),
        content_category=category,
        custom_schema_id=_uuid(custom_schema_id, "custom_schema_id", errors),
    )
    if errors:
        first = errors[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", details={"errors": errors})
    if options.storage_target == "custom":
        raise BadRequest(
            "storage_target 'custom' needs the tenant's own S3 bucket, which is not configured "
            "on this server; use 'default'"
        )
    return options


def safe_filename(raw: str) -> str:
    """A display name only: the last path component, no control characters, at most 255 chars."""
    name = PurePosixPath(visible_text(raw).replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name


@dataclass(frozen=True)
class Stored:
    """The outcome for one accepted part: a new row, or the existing file it duplicated."""

    file: File
    skipped: bool
    filename: str  # as the request named it (a skipped duplicate's row has its own name)


async def store_file(
    session: AsyncSession,
    tenant: Tenant,
    part: FilePart,
    options: UploadOptions,
    *,
    max_upload_bytes: int,
    max_part_bytes: int = 64 * 1024 * 1024,  # settings.max_container_part_bytes
    session_id: str | None = None,
    file_id: str | None = None,
) -> Stored:
    """Check one stored part and record it (no flush, no commit). Raises ``APIError`` to refuse it.

    On refusal the part's object is discarded by the caller (``StreamingForm.aclose``).
    """
    if part.too_large:
        raise PayloadTooLarge(
            f"{safe_filename(part.filename)!r} is over the {max_upload_bytes} byte limit of this "
            "route; upload it with the direct upload flow",
            details={"limit": max_upload_bytes, "filename": safe_filename(part.filename)},
        )
    try:
        detected = sniff(bytes(part.head), part.filename)
        if detected.needs_zip_check:

            def check_zip() -> None:
                with part.pending.open_written() as handle:
                    confirm_docx(handle, max_part_bytes=max_part_bytes)

            await anyio.to_thread.run_sync(check_zip)
    except ContainerTooLarge as refusal:  # a known format, but past a bound: a validation error
        raise ValidationFailed(
            f"{safe_filename(part.filename)!r} was refused: {refusal}",
            details={"filename": safe_filename(part.filename), "reason": str(refusal)},
        ) from None
    except Refused as refusal:
        raise UnsupportedMediaType(
            f"{safe_filename(part.filename)!r} was refused: {refusal}",
            details={
                "filename": safe_filename(part.filename),
                "reason": str(refusal),
                "supported_formats": SUPPORTED_FORMATS,
            },
        ) from None
    content_hash = f"sha256:{part.pending.sha256}"
    if options.skip_duplicates:
        existing = await session.scalar(
            select(File)
            .where(
                File.tenant_id == tenant.id,
                File.content_hash == content_hash,
                File.deleted_at.is_(None),
            )
            .order_by(File.created_at)
            .limit(1)
        )
        if existing is not None:
            await part.pending.abort()
            return Stored(file=existing, skipped=True, filename=safe_filename(part.filename))
    object_key = await part.pending.commit()
    now = utcnow()
    row = File(
        id=file_id or new_id(),  # set here, not at flush: a request's rows go in together
        created_at=now,
        updated_at=now,
        tenant_id=tenant.id,
        session_id=session_id,
        filename=safe_filename(part.filename),
        title=options.title,
        tags=options.tags,
        media_type=detected.media_type,
        content_type=detected.content_type,
        format=detected.format,
        size_bytes=part.pending.size,
        content_hash=content_hash,
        object_key=object_key,
        status="processing",
        content_category=options.content_category,
        folder_id=options.folder_id,
        project_id=options.project_id,
        # its job is enqueued in the same transaction (api/ingest.Upload.commit)
        description_status="queued" if options.auto_describe else "skipped",
    )
    session.add(row)  # (flushed with the others at commit, or by a later duplicate lookup)
    return Stored(file=row, skipped=False, filename=row.filename)


def refusal_of(error: APIError) -> dict[str, str]:
    """The per-file error entry of a batch response."""
    return {"code": error.code, "message": error.message}
