"""Documents: text per page (PDF, DOCX, TXT, MD), OCR of scanned pages, chunks, a first page.

Contract: ``extract_document(path, fmt, ocr=...)`` reads a local file and returns the text of
each page, the page count, the OCR regions of pages that had no text layer, and an image of the
first page (rendered for PDFs, drawn from the text otherwise) for the thumbnail. It writes
nothing. Password-protected, corrupt or text-less documents are ``validation`` failures.
``chunk_pages`` cuts the text into overlapping chunks that remember their pages.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..errors import StepError
from .ocr import read_text

__all__ = ["DocumentText", "chunk_pages", "extract_document"]

PAGE_RENDER_SIDE = 2000  # pixels on the long side of a page rendered for OCR


@dataclass
class DocumentText:
    format: str
    pages: list[str]
    page_count: int
    first_page: Image.Image | None
    regions: list[dict[str, Any]] = field(default_factory=list)  # from OCR'd pages
    ocr_pages: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(page for page in self.pages if page.strip())


def _validation(message: str) -> StepError:
    return StepError(message, "validation", step="text")


def _render(page: Any, side: int) -> Image.Image:
    width, height = page.get_size()
    scale = side / max(width, height, 1)
    return page.render(scale=scale).to_pil().convert("RGB")  # type: ignore[no-any-return]


def _pdf(path: Path, *, ocr: bool) -> DocumentText:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        reason = str(error)
        if "password" in reason.lower():
            raise _validation(
                "the PDF is password-protected: upload a copy without a password"
            ) from None
        raise _validation(f"the PDF could not be opened ({reason})") from None
    try:
        result = DocumentText(format="pdf", pages=[], page_count=len(document), first_page=None)
        for number in range(len(document)):
            page = document[number]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
                textpage.close()
                if number == 0:
                    result.first_page = _render(page, 1024)
                if not text.strip() and ocr:  # a scanned page: read the pixels
                    found = read_text(_render(page, PAGE_RENDER_SIDE), page=number + 1)
                    text = found.text
                    result.regions.extend(found.regions)
                    result.ocr_pages.append(number + 1)
                result.pages.append(text)
            finally:
                page.close()
        return result
    except pdfium.PdfiumError as error:
        raise _validation(f"the PDF is damaged ({error})") from None
    finally:
        document.close()


def _docx_page_count(path: Path) -> int | None:
    try:
        with zipfile.ZipFile(path) as archive:
            app = archive.read("docProps/app.xml").decode("utf-8", "replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    found = re.search(r"<Pages>(\d+)</Pages>", app)
    return int(found.group(1)) if found else None


def _docx(path: Path) -> DocumentText:
    import docx
    from docx.oxml.ns import qn

    try:
        document = docx.Document(str(path))
    except Exception as error:
        raise _validation(f"the DOCX could not be read ({type(error).__name__})") from None
    lines: list[str] = []
    for block in document.element.body.iterchildren():  # paragraphs and tables, in order
        if block.tag == qn("w:p"):
            lines.append("".join(node.text or "" for node in block.iter(qn("w:t"))))
        elif block.tag == qn("w:tbl"):
            for row in block.iter(qn("w:tr")):
                cells = [
                    "".join(node.text or "" for node in cell.iter(qn("w:t")))
                    for cell in row.iter(qn("w:tc"))
                ]
                lines.append(" | ".join(cell for cell in cells if cell))
    text = "\n".join(lines).strip()
    return DocumentText(
        format="docx",
        pages=[text],
        page_count=_docx_page_count(path) or 1,
        first_page=_draw_page(text),
    )


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _plain(path: Path, fmt: str) -> DocumentText:
    text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    return DocumentText(format=fmt, pages=[text], page_count=1, first_page=_draw_page(text))


def _draw_page(text: str) -> Image.Image:
    """A first page for documents that have no rendering of their own: the opening lines."""
    page = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=22)
    y = 60
    for line in text.splitlines()[:36]:
        draw.text((60, y), line[:70], fill=(30, 30, 30), font=font)
        y += 28
    return page


def extract_document(path: Path, fmt: str, *, ocr: bool) -> DocumentText:
    if fmt == "pdf":
        result = _pdf(path, ocr=ocr)
    elif fmt == "docx":
        result = _docx(path)
    elif fmt in ("txt", "md"):
        result = _plain(path, fmt)
    else:
        raise _validation(f"no text extraction for {fmt!r} documents")
    if not result.text.strip():
        raise _validation(
            f"no text could be extracted from this {fmt.upper()} document (is it empty?)"
        )
    return result


def chunk_pages(pages: list[str], *, size: int = 1000, overlap: int = 150) -> list[dict[str, Any]]:
    """Chunks of about ``size`` characters, cut at whitespace, overlapping by about ``overlap``."""
    text_parts: list[str] = []
    spans: list[tuple[int, int, int]] = []  # (start, end, page number) in the joined text
    position = 0
    for number, page in enumerate(pages, start=1):
        if not page.strip():
            continue
        if text_parts:
            text_parts.append("\n\n")
            position += 2
        text_parts.append(page)
        spans.append((position, position + len(page), number))
        position += len(page)
    text = "".join(text_parts)
    chunks: list[dict[str, Any]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(
                text.rfind(" ", start + size // 2, end), text.rfind("\n", start + size // 2, end)
            )
            if cut > start:
                end = cut
        piece = text[start:end].strip()
        if piece:
            numbers = [n for s, e, n in spans if s < end and e > start]
            chunks.append({"index": len(chunks), "text": piece, "page_numbers": numbers})
        if end >= len(text):
            break
        following = max(end - overlap, start + 1)
        space = text.find(" ", following, end)
        start = space + 1 if space != -1 else following
    return chunks
