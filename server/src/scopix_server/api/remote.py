"""Uploads that arrive as JSON: ``{"base64": ...}`` or ``{"url": ...}`` (``/images/analyze``).

``JsonUpload`` fills the same ``files`` and ``fields`` as ``StreamingForm`` does for a multipart
body, so the upload plumbing (options, idempotency, quotas, cleanup) treats both alike.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..errors import BadRequest, PayloadTooLarge, ServiceUnavailable, ValidationFailed
from ..services.fetch import fetch, filename_of
from ..services.media import HEAD_BYTES
from ..services.uploads import FilePart
from ..storage import PendingObject

__all__ = ["JsonUpload"]

_DATA_URL = re.compile(rb"^data:[\w/\\+.-]*;base64,", re.IGNORECASE)  # ("\/" as JSON may write it)
_WRITE_BYTES = 1024 * 1024  # a multiple of 4: base64 is decoded in whole groups
_BASE64_VALUE = re.compile(rb'"base64"\s*:\s*"')
_SPANNED = object()  # stands for the base64 text left in the body
_SPACE = re.compile(rb"\s+|\\[nrt]")  # whitespace, raw or JSON-escaped, inside the base64


def _base64_span(raw: bytearray) -> tuple[int, int] | None:
    """Where the "base64" member's string value lies in the body, if it is one."""
    found = _BASE64_VALUE.search(raw)
    if found is None:
        return None
    end = raw.find(b'"', found.end())
    return None if end < 0 else (found.end(), end)


def _unescape(piece: bytes) -> bytes:
    return _SPACE.sub(b"", piece).replace(b"\\/", b"/")


def _not_base64() -> ValidationFailed:
    return ValidationFailed(
        "base64: not valid base64 (standard alphabet, with padding)",
        details={"errors": [{"field": "base64", "message": "not valid base64"}]},
    )


def _b64(piece: bytes) -> bytes:
    try:
        return base64.b64decode(piece, validate=True)
    except (binascii.Error, ValueError):
        raise _not_base64() from None


def _field_value(value: Any) -> str:
    """A JSON option as the form field it stands for."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


class JsonUpload:
    """One JSON upload body; the file is decoded or fetched into storage as it arrives."""

    def __init__(
        self,
        *,
        begin_file: Callable[[], PendingObject],
        max_file_bytes: int,
        allow_private: bool,
        fetch_timeout: float,
    ) -> None:
        self.fields: dict[str, list[str]] = {}
        self.files: list[FilePart] = []
        self._begin_file = begin_file
        self._max_file_bytes = max_file_bytes
        self._allow_private = allow_private
        self._fetch_timeout = fetch_timeout

    async def consume(self, body: AsyncIterator[bytes], *, max_body_bytes: int) -> None:
        raw = bytearray()
        async for chunk in body:
            raw += chunk
            if len(raw) > max_body_bytes:
                raise PayloadTooLarge(
                    f"JSON body over {max_body_bytes} bytes: a file sent here is at most "
                    f"{self._max_file_bytes} bytes (base64 adds a third); upload larger files "
                    "with the direct upload flow",
                    code="FILE_TOO_LARGE",
                    details={"limit": self._max_file_bytes},
                )
        # The base64 text stays in ``raw`` and is decoded from there piece by piece: parsed as
        # a JSON string it would be copied several times over (a 95 MB body cost ~500 MB).
        span = _base64_span(raw)
        skeleton = raw if span is None else raw[: span[0]] + raw[span[1] :]
        try:
            document = json.loads(skeleton)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"the body is not valid JSON ({error})") from None
        except RecursionError:
            raise BadRequest("the body's JSON is nested too deeply") from None
        del skeleton
        if span is not None and isinstance(document, dict) and document.get("base64") == "":
            document["base64"] = _SPANNED if span[1] > span[0] else ""
        if not isinstance(document, dict):
            raise ValidationFailed("the JSON body must be an object with 'url' or 'base64'")
        given = [name for name in ("url", "base64") if document.get(name) not in (None, "")]
        if len(given) != 1:
            raise ValidationFailed(
                "send exactly one of 'url' and 'base64' (or the file as multipart field 'file')",
                details={"errors": [{"field": "url|base64", "message": "exactly one"}]},
            )
        source = document[given[0]]
        if source is _SPANNED and span is not None:
            source = memoryview(raw)[span[0] : span[1]]
        elif not isinstance(source, str):
            raise ValidationFailed(f"{given[0]}: must be a string")
        for name, value in document.items():
            if name not in ("url", "base64", "filename"):
                self.fields[name] = [_field_value(value)]
        filename = document.get("filename")
        if given[0] == "url":
            part = await self._fetch(source, filename if isinstance(filename, str) else None)
        else:
            part = self._new_part(filename if isinstance(filename, str) else "upload")
            await self._decode(part, source)
        try:
            await part.pending.finish()
        except OSError as error:
            raise ServiceUnavailable(f"storage is unavailable ({error.strerror})") from None

    async def aclose(self) -> None:
        for part in self.files:
            await part.pending.abort()

    def _new_part(self, filename: str) -> FilePart:
        part = FilePart(filename=filename, pending=self._begin_file())
        self.files.append(part)
        return part

    async def _write(self, part: FilePart, chunk: bytes) -> bool:
        """Store ``chunk``; False once the file is over the size cap (then it is dropped)."""
        part.size += len(chunk)
        if part.size > self._max_file_bytes:
            part.too_large = True
            return False
        if len(part.head) < HEAD_BYTES:
            part.head += chunk[: HEAD_BYTES - len(part.head)]
        part.pending.write(chunk)
        await part.pending.drain()
        return True

    async def _decode(self, part: FilePart, text: str | memoryview) -> None:
        """Decode base64 (JSON-escaped, as it stands in the body) into ``part`` piece by piece."""
        view = memoryview(text.encode("ascii", "replace")) if isinstance(text, str) else text
        head = bytes(view[:256])
        start = len(head) - len(head.lstrip())
        prefix = _DATA_URL.match(head.lstrip())
        if prefix:
            start += prefix.end()
        tail = b""  # the start of an escape cut off at the end of a piece
        carry = b""  # base64 characters short of a whole group of 4
        for offset in range(start, len(view), _WRITE_BYTES):
            raw = tail + bytes(view[offset : offset + _WRITE_BYTES])
            raw, tail = (raw[:-1], raw[-1:]) if raw.endswith(b"\\") else (raw, b"")
            piece = carry + _unescape(raw)
            whole = len(piece) - len(piece) % 4
            piece, carry = piece[:whole], piece[whole:]
            if piece and not await self._write(part, _b64(piece)):
                return
        if tail or carry:
            raise _not_base64()

    async def _fetch(self, url: str, filename: str | None) -> FilePart:
        async with fetch(
            url, allow_private=self._allow_private, timeout=self._fetch_timeout
        ) as response:
            # named after where the redirects led (the request went to the checked address,
            # with the same path)
            part = self._new_part(filename or filename_of(str(response.request.url)))
            try:
                async for chunk in response.aiter_bytes():
                    if not await self._write(part, chunk):
                        break
            except httpx.HTTPError as error:
                why = (
                    f"the server sent nothing for {self._fetch_timeout:g} s"
                    if isinstance(error, httpx.TimeoutException)
                    else "the connection closed before the whole file arrived"
                )
                raise ValidationFailed(
                    f"url: the download broke off ({why})",
                    details={"errors": [{"field": "url", "message": "download broke off"}]},
                ) from None
        return part
