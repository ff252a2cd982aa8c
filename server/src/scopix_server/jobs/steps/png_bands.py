"""A large PNG decoded band by band, each band reduced before the next is read.

Pillow decodes a PNG in one piece, into a full-size image (a 13000x13000 RGB PNG: 676 MB),
and only then can it be reduced. PNG has no reduced decode (JPEG's "draft"), so here the
pixel stream is inflated a band of rows at a time: each band is handed to Pillow's own PNG
row decoder, converted to RGB and shrunk by the whole ``factor``, and its full-size rows are
dropped before the next band is read. Memory stays at a band (about ``BAND_BYTES``) plus the
reduced image, whatever the size of the PNG.

A band's rows may be filtered against the last row of the band before it (PNG's "up",
"average" and "paeth" filters), so each band is decoded after a copy of that row, stored
unfiltered: the decoder then sees the same neighbours as in one piece, and the pixels come
out identical.

Only the common layouts take this path (one IDAT stream, not interlaced, 8 bits a sample:
``RAW_MODES``); ``supports()`` says so, and the caller decodes the others in one piece.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from typing import IO, TypeGuard

from PIL import Image, PngImagePlugin
from PIL import _imaging as pillow_core

__all__ = ["BAND_BYTES", "RAW_MODES", "decode_reduced", "late_exif", "supports"]

BAND_BYTES = 8 * 1024 * 1024  # of full-size pixels held at once (Pillow keeps 4 bytes each)
RAW_MODES = frozenset({"L", "LA", "P", "RGB", "RGBA"})  # 8 bits a sample: rows pack back exactly
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_READ = 1024 * 1024  # compressed bytes handed to zlib at once
_EXIF_BYTES = 1024 * 1024  # a larger eXIf chunk is ignored, not read


def supports(opened: Image.Image) -> TypeGuard[PngImagePlugin.PngImageFile]:
    """Whether ``opened`` (a PNG, not yet loaded) can be decoded in bands."""
    if not isinstance(opened, PngImagePlugin.PngImageFile) or len(opened.tile) != 1:
        return False
    tile = opened.tile[0]
    return (
        tile.codec_name == "zip"
        and tile.extents == (0, 0, *opened.size)
        and tile.args in RAW_MODES
        and not opened.info.get("interlace")
        and not getattr(opened, "is_animated", False)
    )


def _chunks(fp: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Each chunk's type and length, with ``fp`` at its data (read it or not)."""
    fp.seek(0)
    if fp.read(8) != _SIGNATURE:
        raise SyntaxError("not a PNG file")
    while len(header := fp.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        start = fp.tell()
        yield kind, length
        fp.seek(start + length + 4)  # past the data and its CRC


def _idat(fp: IO[bytes]) -> Iterator[bytes]:
    """The compressed pixel stream: the IDAT chunks' data, in file order."""
    seen = False
    for kind, length in _chunks(fp):
        if kind != b"IDAT":
            if seen or kind == b"IEND":
                return  # the IDAT chunks are consecutive: the stream is over
            continue
        seen = True
        left = length
        while left and (piece := fp.read(min(left, _READ))):
            left -= len(piece)
            yield piece


def late_exif(fp: IO[bytes]) -> bytes | None:
    """An eXIf chunk after the pixels, found without decoding them.

    (Pillow's ``PngImageFile.getexif()`` decodes the whole image to reach such a chunk.)
    """
    for kind, length in _chunks(fp):
        if kind == b"eXIf":
            return fp.read(length) if length <= _EXIF_BYTES else None
        if kind == b"IEND":
            break
    return None


class _Rows:
    """Filtered rows (a filter byte, then the row) inflated from the stream on demand."""

    def __init__(self, stream: Iterator[bytes], row_bytes: int) -> None:
        self._stream = stream
        self._inflate = zlib.decompressobj()
        self._pending = b""
        self._row = row_bytes + 1

    def take(self, count: int, after: bytes) -> bytearray:
        """``after`` followed by the next ``count`` rows."""
        wanted = len(after) + count * self._row
        out = bytearray(after)
        while len(out) < wanted:
            if not self._pending:
                self._pending = next(self._stream, b"")
                if not self._pending:
                    break
            out += self._inflate.decompress(self._pending, wanted - len(out))
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:
                break
        if len(out) < wanted:
            raise OSError("image file is truncated")
        return out


def decode_reduced(
    opened: PngImagePlugin.PngImageFile, factor: int, convert: Callable[[Image.Image], Image.Image]
) -> Image.Image:
    """``opened`` decoded, each band passed through ``convert`` then reduced by ``factor``.

    ``convert`` turns a band into a mode ``reduce()`` handles (the caller's RGB conversion).
    """
    assert opened.fp is not None and supports(opened)
    width, height = opened.size
    mode, raw_mode = opened.mode, str(opened.tile[0].args)
    channels = len(raw_mode)  # L, LA, P, RGB, RGBA: one byte a sample
    row_bytes = width * channels
    rows = _Rows(_idat(opened.fp), row_bytes)
    step = max(1, BAND_BYTES // (width * 4) // factor) * factor  # whole factors: bands align
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    seed = b""  # the band before's last row, unfiltered (filter type 0)
    for top in range(0, height, step):
        count = min(step, height - top)
        data = rows.take(count, after=seed)
        extra = 1 if seed else 0
        core = pillow_core.new(mode, (width, count + extra))
        decoder = Image._getdecoder(mode, "zip", raw_mode)
        decoder.setimage(core, (0, 0, width, count + extra))
        packed = zlib.compress(data, 0)  # stored, not compressed: the decoder inflates
        del data
        status, error = decoder.decode(packed)
        del packed
        decoder.cleanup()
        if error < 0 or status >= 0:  # an error, or rows still missing
            raise OSError(f"decoder error {error}" if error < 0 else "image file is truncated")
        band = opened._new(core)
        seed = b"\x00" + band.crop((0, count + extra - 1, width, count + extra)).tobytes(
            "raw", raw_mode
        )
        if extra:
            band = band.crop((0, 1, width, count + 1))
        out.paste(convert(band).reduce(factor), (0, top // factor))
    return out
