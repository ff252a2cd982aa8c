"""Streaming ``multipart/form-data``: file parts go straight to storage while they are hashed.

Memory stays flat whatever the file size: each chunk of the request body is parsed and written
as it arrives. A file part over the size cap stops being stored at once (``too_large``) and the
rest of it is read and dropped, so that the client still receives the 413 answer instead of a
broken connection. Whatever happens, ``aclose()`` removes every object that was not committed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import (
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..services.media import HEAD_BYTES
from ..services.uploads import FilePart
from ..storage import PendingObject

__all__ = ["StreamingForm", "boundary_of"]

# RFC 5987's ``filename*=charset'language'percent-encoded``, which some clients send (and which
# the multipart parser leaves out); it names the file better than a plain ``filename`` beside it
_EXTENDED_FILENAME = re.compile(rb"""(?:^|;)\s*filename\*\s*=\s*([^;\s]+)""", re.IGNORECASE)


def _extended_filename(disposition: bytes) -> str | None:
    found = _EXTENDED_FILENAME.search(disposition)
    if found is None:
        return None
    charset, _, rest = found.group(1).decode("latin-1").partition("'")
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict") or None
    except (LookupError, UnicodeDecodeError):  # (an unknown charset, or bytes not in it)
        return None


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a Content-Type header, or a clear 415."""
    if not content_type:
        raise UnsupportedMediaType(
            "missing Content-Type: send the upload as multipart/form-data",
            details={"expected": "multipart/form-data"},
        )
    media, options = parse_options_header(content_type)
    if media.lower() != b"multipart/form-data":
        raise UnsupportedMediaType(
            f"Content-Type {media.decode('latin-1')!r} is not accepted here: send "
            "multipart/form-data with the file in the 'file' field",
            details={"expected": "multipart/form-data"},
        )
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 70:
        raise BadRequest("multipart/form-data without a valid boundary parameter")
    return boundary


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)  # raw: any bytes may arrive
    name: str = ""
    file: FilePart | None = None
    value: bytearray = field(default_factory=bytearray)


class StreamingForm:
    """Parses one multipart body; ``fields`` and ``files`` are filled as it goes."""

    def __init__(
        self,
        boundary: bytes,
        *,
        begin_file: Callable[[], PendingObject],
        file_fields: frozenset[str],
        max_file_bytes: int,
        max_files: int,
        max_field_bytes: int,
        max_fields: int = 64,
    ) -> None:
        self.fields: dict[str, list[str]] = {}
        self.files: list[FilePart] = []
        self.complete = False
        self._begin_file = begin_file
        self._file_fields = file_fields
        self._max_file_bytes = max_file_bytes
        self._max_files = max_files
        self._max_field_bytes = max_field_bytes
        self._max_fields = max_fields
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._error: Exception | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    async def consume(self, body: AsyncIterator[bytes], *, max_body_bytes: int) -> None:
        """Feed the whole body through the parser; raise the first problem found.

        After a problem the rest of the body is still read (and dropped), up to
        ``max_body_bytes``, so that the client gets the error answer rather than a connection
        closed under it while it is still sending.
        """
        received = 0
        async for chunk in body:
            received += len(chunk)
            if received > max_body_bytes:
                raise PayloadTooLarge(
                    f"request body over {max_body_bytes} bytes; use the direct upload flow "
                    "for large files",
                    code="BATCH_TOO_LARGE" if len(self.files) > 1 else "FILE_TOO_LARGE",
                )
            if self._error is not None:
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as error:
                self._fail(BadRequest(f"malformed multipart body: {error}"))
            except OSError as error:  # the storage could not write (disk full, I/O error)
                self._fail(_storage_unavailable(error))
            if self._part.file is not None:
                await self._part.file.pending.drain()
        if self._error is not None:
            raise self._error
        if not self.complete:
            raise BadRequest("the multipart body ended before its closing boundary (truncated?)")
        try:
            for part in self.files:
                await part.pending.finish()
        except OSError as error:
            raise _storage_unavailable(error) from None

    async def aclose(self) -> None:
        """Discard every file that was not committed (idempotent)."""
        for part in self.files:
            await part.pending.abort()

    # --- parser callbacks (synchronous) ---

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._part.headers[name] = bytes(self._header_value).strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        try:
            disposition, options = parse_options_header(part.headers.get("content-disposition"))
        except (ValueError, UnicodeError):
            self._fail(BadRequest("a multipart part with an unreadable Content-Disposition"))
            return
        if disposition.lower() != b"form-data" or b"name" not in options:
            self._fail(BadRequest("a multipart part without Content-Disposition: form-data"))
            return
        part.name = options[b"name"].decode("utf-8", "replace")
        filename = options.get(b"filename")
        if part.name in self._file_fields or filename is not None:
            if part.name not in self._file_fields:
                self._fail(
                    ValidationFailed(
                        f"unexpected file in field {part.name!r}; send files as "
                        f"{' or '.join(sorted(self._file_fields))}"
                    )
                )
                return
            if len(self.files) >= self._max_files:
                self._fail(
                    PayloadTooLarge(
                        f"too many files in one request (at most {self._max_files})",
                        code="BATCH_TOO_LARGE",
                    )
                )
                return
            extended = _extended_filename(part.headers.get("content-disposition", b""))
            part.file = FilePart(
                filename=extended or (filename or b"").decode("utf-8", "replace"),
                pending=self._begin_file(),
            )
            self.files.append(part.file)
        elif sum(len(v) for v in self.fields.values()) >= self._max_fields:
            self._fail(ValidationFailed(f"too many form fields (at most {self._max_fields})"))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._error is not None:
            return
        part = self._part
        chunk = memoryview(data)[start:end]  # no copy: bytes are immutable, views are safe
        if part.file is None:
            if len(part.value) + len(chunk) > self._max_field_bytes:
                self._fail(
                    ValidationFailed(
                        f"form field {part.name!r} is longer than {self._max_field_bytes} bytes",
                        details={"errors": [{"field": part.name, "message": "too long"}]},
                    )
                )
                return
            part.value += chunk
            return
        upload = part.file
        upload.size += len(chunk)
        if upload.too_large:
            return
        if upload.size > self._max_file_bytes:
            upload.too_large = True  # stop storing; the object is discarded in aclose()
            return
        if len(upload.head) < HEAD_BYTES:
            upload.head += chunk[: HEAD_BYTES - len(upload.head)]
        upload.pending.write(chunk)

    def _on_part_end(self) -> None:
        part = self._part
        if part.file is None and part.name and self._error is None:
            self.fields.setdefault(part.name, []).append(part.value.decode("utf-8", "replace"))

    def _on_end(self) -> None:
        self.complete = True


def _storage_unavailable(error: OSError) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"storage could not take the upload ({error.strerror or error}); try again later"
    )
