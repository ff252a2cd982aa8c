"""What document extraction returns, and the bounds it works within (shared by every format)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ...processing import StepError
from ..budget import Budget

__all__ = ["DocumentLimits", "DocumentText", "draw_page", "validation"]


@dataclass
class DocumentText:
    format: str
    pages: list[str]
    page_count: int  # of the whole document, also where fewer pages were read
    first_page: Image.Image | None
    regions: list[dict[str, Any]] = field(default_factory=list)  # from OCR'd pages
    ocr_pages: list[int] = field(default_factory=list)
    blank_pages: list[int] = field(default_factory=list)  # skipped before OCR

    @property
    def text(self) -> str:
        return "\n\n".join(page for page in self.pages if page.strip())


@dataclass(frozen=True)
class DocumentLimits:
    max_part_bytes: int = 64 * 1024 * 1024  # inflated size of one ZIP entry or PDF stream
    max_pages: int = 200  # pages read (text and OCR) per document
    budget: Budget = field(default_factory=Budget.unlimited)


def validation(message: str) -> StepError:
    return StepError(message, "validation", step="text")


def draw_page(text: str) -> Image.Image:
    """A first page for documents that have no rendering of their own: the opening lines."""
    page = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=22)
    y = 60
    for line in text.splitlines()[:36]:
        draw.text((60, y), line[:70], fill=(30, 30, 30), font=font)
        y += 28
    return page
