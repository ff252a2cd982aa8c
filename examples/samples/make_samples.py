"""Make the demo's sample files (all drawn here: no third-party media).

    .venv/bin/python examples/samples/make_samples.py

Writes, next to this script: two photos with text on signs, a scanned page (an image-only
PDF, read by OCR), a PDF with a text layer, a DOCX and a Markdown note. The files are committed;
run this again only to change them.
"""

from __future__ import annotations

import ctypes
import random
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent


def photo(seed: int, lines: list[str], size: tuple[int, int] = (1600, 1067)) -> Image.Image:
    """Soft colour fields with noise (photo-like), and a light sign carrying ``lines``."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 6))
    small.putdata([(rng.randrange(40, 220), rng.randrange(40, 220), rng.randrange(40, 220))
                   for _ in range(8 * 6)])  # fmt: skip
    image = small.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(30))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size[1] // 12)
    left, top = size[0] // 6, size[1] // 4
    boxes = [draw.textbbox((left, top + n * size[1] // 9), line, font=font)
             for n, line in enumerate(lines)]  # fmt: skip
    sign = (min(b[0] for b in boxes) - 40, min(b[1] for b in boxes) - 40,
            max(b[2] for b in boxes) + 40, max(b[3] for b in boxes) + 40)  # fmt: skip
    draw.rounded_rectangle(sign, radius=24, fill=(248, 246, 236), outline=(60, 60, 60), width=6)
    for n, line in enumerate(lines):
        draw.text((left, top + n * size[1] // 9), line, fill=(20, 30, 60), font=font)
    return image


def page(lines: list[str]) -> Image.Image:
    """A letter-size page at 150 dpi, slightly tilted and grainy, as a scanner makes it."""
    image = Image.new("L", (1275, 1650), 250)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=38)
    for n, line in enumerate(lines):
        draw.text((130, 160 + n * 70), line, fill=25, font=font)
    rng = random.Random(7)
    noisy = image.point(lambda v: v)  # a copy
    pixels = noisy.load()
    assert pixels is not None
    for _ in range(6000):
        x, y = rng.randrange(1275), rng.randrange(1650)
        pixels[x, y] = rng.randrange(150, 255)
    return noisy.rotate(0.8, fillcolor=250, resample=Image.Resampling.BICUBIC).convert("RGB")


def text_pdf(path: Path, pages: list[list[str]]) -> None:
    """A PDF with a real text layer (Helvetica), made with PDFium."""
    pdf = pdfium.PdfDocument.new()
    for lines in pages:
        new_page = pdf.new_page(612, 792)
        for n, line in enumerate(lines):
            text = pdfium_raw.FPDFPageObj_NewTextObj(pdf, b"Helvetica", 14.0)
            buffer = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
            pdfium_raw.FPDFText_SetText(
                text, ctypes.cast(buffer, ctypes.POINTER(pdfium_raw.FPDF_WCHAR))
            )
            pdfium_raw.FPDFPageObj_Transform(text, 1, 0, 0, 1, 72, 720 - 22 * n)
            pdfium_raw.FPDFPage_InsertObject(new_page, text)
        pdfium_raw.FPDFPage_GenerateContent(new_page)
    pdf.save(path)


def main() -> None:
    photo(1, ["MAIN STREET", "BAKERY OPEN 7-19"]).save(HERE / "street-sign.jpg", quality=82)
    photo(2, ["HARBOUR MARKET", "FISH  FRUIT  FLOWERS"]).save(HERE / "market.jpg", quality=82)
    page(
        [
            "Northwind Traders",
            "12 Harbour Road, Portsmouth",
            "",
            "Invoice 2026-0412",
            "Date: 3 March 2026",
            "",
            "2 x Oak shelf        120.00",
            "1 x Delivery          15.00",
            "Total due            255.00",
            "",
            "Thank you for your order.",
        ]
    ).save(HERE / "scanned-invoice.pdf", resolution=150)
    text_pdf(
        HERE / "annual-report.pdf",
        [
            ["Annual Report 2025", "", "Revenue grew by 12 percent to 4.2 million.",
             "The new harbour warehouse opened in June."],
            ["Outlook", "", "We expect steady growth in 2026.",
             "Hiring will focus on logistics and support."],
        ],
    )  # fmt: skip
    document = docx.Document()
    document.add_heading("Board meeting minutes", level=1)
    document.add_paragraph("Date: 14 January 2026. Present: all five board members.")
    document.add_paragraph("The board approved the budget for the harbour warehouse.")
    document.add_paragraph("Next meeting: 11 February 2026.")
    document.save(str(HERE / "minutes.docx"))
    (HERE / "field-notes.md").write_text(
        "# Field notes\n\nSurveyed the north pier on Tuesday. Two lamp posts need new bulbs;\n"
        "the railing near berth 4 is loose.\n"
    )


if __name__ == "__main__":
    main()
