"""Documents: text per page (PDF, DOCX, TXT, MD), OCR of scanned pages, chunks, a first page.

Contract: ``extract_document(path, fmt, ocr=..., limits=...)`` reads a local file and returns the
text of each page, the page count, the OCR regions of pages that had no text layer, and an image
of the first page (rendered for PDFs, drawn from the text otherwise) for the thumbnail. It writes
nothing. Password-protected, corrupt or text-less documents are ``validation`` failures, and so
are containers past ``limits`` (a part that inflates too far); at most ``limits.max_pages``
pages are read, and the job's time budget is checked between pages.
``chunk_pages`` cuts the text into overlapping chunks that remember their pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .document_types import DocumentLimits, DocumentText, draw_page, validation
from .docx_text import read_docx
from .pdf import read_pdf

__all__ = ["DocumentLimits", "DocumentText", "chunk_pages", "draw_page", "extract_document"]


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _plain(path: Path, fmt: str) -> DocumentText:
    text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    return DocumentText(format=fmt, pages=[text], page_count=1, first_page=draw_page(text))


def extract_document(
    path: Path, fmt: str, *, ocr: bool, limits: DocumentLimits | None = None
) -> DocumentText:
    limits = limits or DocumentLimits()
    if fmt == "pdf":
        result = read_pdf(path, ocr=ocr, limits=limits)
    elif fmt == "docx":
        result = read_docx(path, limits)
    elif fmt in ("txt", "md"):
        result = _plain(path, fmt)
    else:
        raise validation(f"no text extraction for {fmt!r} documents")
    if not result.text.strip():
        if result.blank_pages and len(result.blank_pages) == len(result.pages):
            raise validation(
                f"the PDF's {len(result.pages)} pages read are blank: there is no text to extract"
            )
        raise validation(
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
