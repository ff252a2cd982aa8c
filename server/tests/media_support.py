"""Test media made by the tests: images with text at known places, PDFs, DOCX files."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Placed:
    text: str
    box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1 where it was drawn


def text_image(
    lines: list[tuple[str, int, int]], size: tuple[int, int] = (1600, 1000), font_size: int = 64
) -> tuple[Image.Image, list[Placed]]:
    """A light image with each ``(text, x, y)`` drawn in black; returns where each landed."""
    image = Image.new("RGB", size, (248, 248, 244))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    placed = []
    for text, x, y in lines:
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        draw.text((x, y), text, fill=(10, 10, 10), font=font)
        w, h = size
        placed.append(Placed(text, (left / w, top / h, right / w, bottom / h)))
    return image, placed


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(
    out: BinaryIO,
    size: tuple[int, int],
    row: Callable[[int], bytes],
    *,
    color_type: int = 2,
    before: Iterable[tuple[bytes, bytes]] = (),
    after: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A PNG written row by row (never whole in memory): ``row(y)`` is its filter byte and data.

    ``before`` and ``after`` are extra chunks (type, data) around the pixels; the pixels are
    split over IDAT chunks of about 1 MB, as encoders do.
    """
    width, height = size
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)))
    for kind, data in before:
        out.write(_png_chunk(kind, data))
    deflate = zlib.compressobj(1)
    pending = bytearray()
    for y in range(height):
        pending += deflate.compress(row(y))
        if len(pending) >= 1 << 20:
            out.write(_png_chunk(b"IDAT", bytes(pending)))
            pending.clear()
    out.write(_png_chunk(b"IDAT", bytes(pending + deflate.flush())))
    for kind, data in after:
        out.write(_png_chunk(kind, data))
    out.write(_png_chunk(b"IEND", b""))


def exif_orientation(orientation: int) -> bytes:
    """EXIF (a TIFF structure, as PNG's eXIf chunk holds it) saying ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes().removeprefix(b"Exif\x00\x00")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def with_orientation(upright: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels need EXIF ``orientation`` (6 or 8) to look like ``upright``."""
    stored = upright.transpose(
        Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", exif=exif.tobytes(), quality=92)


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a real text layer: each page's lines in Helvetica, written by hand."""
    objects: list[bytes] = []
    kids = []
    font_number = 3 + 2 * len(pages)
    for number, lines in enumerate(pages):
        page_obj = 3 + 2 * number
        content_obj = page_obj + 1
        kids.append(f"{page_obj} 0 R")
        ops = ["BT", "/F1 18 Tf", "72 720 Td", "22 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_obj} 0 R "
            f"/Resources << /Font << /F1 {font_number} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    body = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode(),
        *objects,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(body, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + content + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(body) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(body) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([["Top secret"]]))))
    writer.encrypt(
        user_password=password, owner_password=password, algorithm="RC4-128"
    )  # RC4 needs no extra package
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf(lines: list[tuple[str, int, int]]) -> bytes:
    """An image-only PDF (no text layer): the page must be read by OCR."""
    image, _ = text_image(lines, size=(1275, 1650), font_size=60)
    return encode(image, "PDF", resolution=150)


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _deflated(prefix: bytes, fill: bytes, fill_mib: int, suffix: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of ``prefix + fill * (fill_mib MiB) + suffix``, its CRC and inflated size.

    Made in well under a second whatever the size: one MiB of ``fill`` is compressed once,
    as a self-contained run of blocks (a full flush from a fresh compressor), and repeated.
    """
    import zlib

    def segment(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    mib = (fill * (1024 * 1024 // len(fill) + 1))[: 1024 * 1024]
    block = segment(mib)
    crc = zlib.crc32(prefix)
    for _ in range(fill_mib):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(suffix, crc)
    stream = segment(prefix) + block * fill_mib + segment(suffix) + b"\x03\x00"  # final block
    return stream, crc, len(prefix) + fill_mib * 1024 * 1024 + len(suffix)


def zip_with(entries: dict[str, bytes | tuple[bytes, bytes, int, bytes]]) -> bytes:
    """A ZIP built by hand; an entry given as ``(prefix, fill, MiB, suffix)`` inflates to that.

    The bomb entries are real deflate streams, so they can be read: a reader that does not
    bound what it inflates will hold all of it.
    """
    import struct
    import zlib

    out = io.BytesIO()
    central = []
    for name, content in entries.items():
        if isinstance(content, tuple):
            data, crc, size = _deflated(*content)
        else:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = compressor.compress(content) + compressor.flush()
            crc, size = zlib.crc32(content), len(content)
        encoded = name.encode()
        offset = out.tell()
        fields = (20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + encoded + data)
        central.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + encoded
        )
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(
        struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), start, 0
        )
    )
    return out.getvalue()


def docx_bomb(part: str, fill_mib: int) -> bytes:
    """A real DOCX (python-docx's) whose ``part`` is replaced by one inflating past ``fill_mib``
    MiB of spaces inside valid XML."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(docx_bytes(["A bounded document"]))) as archive:
        entries: dict[str, bytes | tuple[bytes, bytes, int, bytes]] = {
            name: archive.read(name) for name in archive.namelist()
        }
    original = entries[part]
    assert isinstance(original, bytes)
    cut = original.rindex(b"</")
    entries[part] = (original[:cut], b" ", fill_mib, original[cut:])
    return zip_with(entries)


def blank_pdf(pages: int) -> bytes:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(612, 792)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
