"""Byte ranges of a stored original (``Range: bytes=...``): a video seeks, a download resumes.

One range is served (206 with ``Content-Range``); a request for several, or a header this does
not read, gets the whole object (200), as HTTP allows; a range wholly past the end is a 416
that says the size. ``If-Range`` is answered with the whole object (the server keeps no
validator it could compare).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import StreamingResponse

from ..errors import APIError
from ..storage import StorageBackend
from .streaming import ClosingStreamingResponse

__all__ = ["RangeNotSatisfiable", "byte_range", "stored_bytes"]

# (18 digits at most: more is no object's size, and a header of thousands of digits is not
# turned into a number: the whole object instead)
_SPEC = re.compile(r"bytes=\s*(\d{0,18})\s*-\s*(\d{0,18})\s*")


class RangeNotSatisfiable(APIError):
    status, code = 416, "RANGE_NOT_SATISFIABLE"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` of the one range ``header`` asks for in an object of ``size`` bytes;
    ``None``: the whole object. Raises ``RangeNotSatisfiable`` for a range that starts past it."""
    if not header:
        return None
    found = _SPEC.fullmatch(header.strip())
    if found is None:  # (several ranges, another unit, or nonsense: the whole object)
        return None
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size)
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # (an invalid range: ignored, as HTTP says)
    if start >= size:
        raise _unsatisfiable(size)
    return start, end - start + 1


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the range starts past the end of the object, which has {size} bytes",
        details={"size_bytes": size},
        headers={"Content-Range": f"bytes */{size}"},
    )


def stored_bytes(
    request: Request,
    storage: StorageBackend,
    key: str,
    *,
    size: int,
    media_type: str,
    headers: Mapping[str, str],
) -> StreamingResponse:
    """The object at ``key`` (``size`` bytes), whole or the range the request asks for."""
    wanted = None if "if-range" in request.headers else request.headers.get("range")
    part = byte_range(wanted, size)
    out = {**headers, "Accept-Ranges": "bytes"}
    if part is None:
        out["Content-Length"] = str(size)
        return ClosingStreamingResponse(storage.read(key), media_type=media_type, headers=out)
    start, length = part
    out["Content-Length"] = str(length)
    out["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    response = ClosingStreamingResponse(
        storage.read(key, start=start, length=length), media_type=media_type, headers=out
    )
    response.status_code = 206
    return response
