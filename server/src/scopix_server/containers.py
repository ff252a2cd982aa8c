"""Bounded reads of the parts inside containers (ZIP entries of a DOCX, PDF streams).

A few kilobytes of deflate can inflate to gigabytes. Every read of a part goes through here, so
that no part is ever inflated past ``limit`` bytes: its declared size is checked first (a ZIP
entry records it, and Python's ``zipfile`` never hands out more than that), then the bytes
actually read are counted, so a lying header stops at the bound too. Past the bound the read
raises ``TooLarge``, whose message names the part and the limit; callers turn it into their own
refusal (``validation``) without ever holding more than ``limit`` bytes of it.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import IO

__all__ = ["TooLarge", "inflate", "open_part", "part_size", "read_part"]

_CHUNK = 64 * 1024


class TooLarge(Exception):
    """A part inflates past the bound; the message says which and how far."""


def _too_large(what: str, limit: int, size: int | None = None) -> TooLarge:
    found = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return TooLarge(
        f"{what} inflates to {found}, over the limit of {limit:,} bytes per part "
        "(a decompression bomb?); save the file again without it or split it"
    )


class _Bounded(io.RawIOBase):
    """A read-only stream over ``source`` that raises ``TooLarge`` past ``limit`` bytes."""

    def __init__(self, source: IO[bytes], what: str, limit: int) -> None:
        self._source = source
        self._what = what
        self._limit = limit
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._source.read(min(len(buffer), self._limit - self._count + 1))
        self._count += len(data)
        if self._count > self._limit:
            raise _too_large(self._what, self._limit)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._source.close()
        super().close()


def part_size(archive: zipfile.ZipFile, name: str, limit: int) -> int:
    """The declared inflated size of ``name`` (``KeyError`` if absent), at most ``limit``."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise _too_large(f"the part {name!r}", limit, info.file_size)
    return info.file_size


def open_part(archive: zipfile.ZipFile, name: str, limit: int) -> IO[bytes]:
    """A stream of the inflated part ``name``; reading past ``limit`` bytes raises ``TooLarge``."""
    part_size(archive, name, limit)
    raw = _Bounded(archive.open(name), f"the part {name!r}", limit)
    return io.BufferedReader(raw, _CHUNK)


def read_part(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with open_part(archive, name, limit) as stream:
        return stream.read()


def inflate(data: bytes | memoryview, what: str, limit: int) -> int:
    """The inflated size of zlib ``data``, counted without keeping it; ``TooLarge`` past ``limit``.

    Holds one chunk of input and one of output at a time, whatever ``data`` inflates to. A
    damaged stream counts what inflated before the damage.
    """
    view = memoryview(data)
    inflater = zlib.decompressobj()
    total = 0
    try:
        for offset in range(0, len(view), _CHUNK):
            pending: bytes | memoryview = view[offset : offset + _CHUNK]
            while pending and not inflater.eof:
                # at most one chunk out per call; input not yet used waits in unconsumed_tail
                total += len(inflater.decompress(pending, _CHUNK))
                if total > limit:
                    raise _too_large(what, limit)
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        while not inflater.eof:  # output still held back after the last input
            out = inflater.decompress(b"", _CHUNK)
            if not out:
                break
            total += len(out)
            if total > limit:
                raise _too_large(what, limit)
    except zlib.error:
        pass  # damaged: what inflated before the damage is all there is
    return total
