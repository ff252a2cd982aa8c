"""The text of a PDF page by page, with OCR of scanned pages, within bounds.

Bounds, because a 37 KB PDF can ask for hours of work or gigabytes of memory: every compressed
stream is checked against the bound on inflated size before PDFium reads any (``check_streams``),
at most ``max_pages`` pages are read, pages that are blank are skipped before OCR (a blank page
has nothing to read, and rendering and OCR of it cost as much as of a full one), and the job's
time budget is checked between pages.
"""

from __future__ import annotations

import mmap
import re
from pathlib import Path
from typing import Any

from PIL import Image

from ...containers import TooLarge, inflate
from .document_types import DocumentLimits, DocumentText, validation
from .ocr import read_text

__all__ = ["PAGE_RENDER_SIDE", "check_streams", "read_pdf"]

PAGE_RENDER_SIDE = 2000  # pixels on the long side of a page rendered for OCR
BLANK_CHECK_SIDE = 256  # a page rendered this small shows any ink there is to read
BLANK_SPREAD = 32  # grey levels between the darkest and lightest pixel of a blank page

_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_FLATE = re.compile(rb"/FlateDecode\b|/Fl\b")


def check_streams(path: Path, limit: int) -> None:
    """Raise ``TooLarge`` if any Flate stream of the file inflates past ``limit`` bytes.

    A raw scan, not a parse: a stream starts after ``stream`` and ends at ``endstream``; its
    filter is in the dictionary just before it. Inflation is counted, never kept.
    """
    with open(path, "rb") as handle:
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return
    problem = None
    with mapped:
        view = memoryview(mapped)
        try:
            position = 0
            number = 0
            while (found := _STREAM.search(mapped, position)) is not None:
                start = found.end()
                end = mapped.find(b"endstream", start)
                if end < 0:
                    end = len(mapped)
                header = mapped[max(0, found.start() - 1024) : found.start()]
                header = header[header.rfind(b"obj") + 1 :]
                number += 1
                if _FLATE.search(header):
                    try:
                        inflate(view[start:end], f"stream {number} of the PDF", limit)
                    except TooLarge as error:
                        # (raised below: its traceback holds views that keep the map open)
                        problem = str(error)
                        break
                position = end
        finally:
            view.release()
    if problem is not None:
        raise TooLarge(problem)


def _render(page: Any, side: int, *, grey: bool = False) -> Image.Image:
    width, height = page.get_size()
    scale = side / max(width, height, 1)
    image: Image.Image = page.render(scale=scale, grayscale=grey).to_pil()
    return image.convert("L" if grey else "RGB")


def _blank(page: Any) -> bool:
    """Whether the page shows nothing to read: no objects at all, or no ink when rendered."""
    if next(iter(page.get_objects()), None) is None:
        return True
    low, high = _render(page, BLANK_CHECK_SIDE, grey=True).getextrema()
    return int(high) - int(low) < BLANK_SPREAD  # type: ignore[arg-type]


def read_pdf(path: Path, *, ocr: bool, limits: DocumentLimits) -> DocumentText:
    import pypdfium2 as pdfium

    try:
        check_streams(path, limits.max_part_bytes)
    except TooLarge as error:
        raise validation(f"the PDF is refused: {error}") from None
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        reason = str(error)
        if "password" in reason.lower():
            raise validation(
                "the PDF is password-protected: upload a copy without a password"
            ) from None
        raise validation(f"the PDF could not be opened ({reason})") from None
    try:
        count = len(document)
        result = DocumentText(format="pdf", pages=[], page_count=count, first_page=None)
        for number in range(min(count, limits.max_pages)):
            limits.budget.check(f"reading page {number + 1} of {count}")
            page = document[number]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
                textpage.close()
                if number == 0:
                    result.first_page = _render(page, 1024)
                if not text.strip() and ocr:  # a scanned page: read the pixels, if any
                    if _blank(page):
                        result.blank_pages.append(number + 1)
                    else:
                        found = read_text(
                            _render(page, PAGE_RENDER_SIDE), page=number + 1, detect_side=None
                        )
                        text = found.text
                        result.regions.extend(found.regions)
                        result.ocr_pages.append(number + 1)
                result.pages.append(text)
            finally:
                page.close()
        return result
    except pdfium.PdfiumError as error:
        raise validation(f"the PDF is damaged ({error})") from None
    finally:
        document.close()
