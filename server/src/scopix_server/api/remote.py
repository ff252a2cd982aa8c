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

_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)
_WRITE_BYTES = 1024 * 1024


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
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"the body is not valid JSON ({error})") from None
        if not isinstance(document, dict):
            raise ValidationFailed("the JSON body must be an object with 'url' or 'base64'")
        given = [name for name in ("url", "base64") if document.get(name) not in (None, "")]
        if len(given) != 1:
            raise ValidationFailed(
                "send exactly one of 'url' and 'base64' (or the file as multipart field 'file')",
                details={"errors": [{"field": "url|base64", "message": "exactly one"}]},
            )
        source = document[given[0]]
        if not isinstance(source, str):
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

    async def _decode(self, part: FilePart, text: str) -> None:
        text = _DATA_URL.sub("", text.strip(), count=1)
        text = "".join(text.split())  # line breaks are common in base64 from tools
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed(
                "base64: not valid base64 (standard alphabet, with padding)",
                details={"errors": [{"field": "base64", "message": "not valid base64"}]},
            ) from None
        view = memoryview(data)
        for start in range(0, len(view), _WRITE_BYTES):
            if not await self._write(part, bytes(view[start : start + _WRITE_BYTES])):
                return

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
                raise ValidationFailed(
                    f"url: the download broke off ({type(error).__name__})",
                    details={"errors": [{"field": "url", "message": "download broke off"}]},
                ) from None
        return part
