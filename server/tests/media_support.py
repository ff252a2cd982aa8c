"""Test media made by the tests: images with text at known places, PDFs, DOCX files."""

from __future__ import annotations

import io
from dataclasses import dataclass

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
