"""What a description provider receives and returns, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..processing import ImageFacts
from ..vision.sight import Sight

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Description", "DescriptionProvider", "DescribeInput"]


@dataclass(frozen=True)
class DescribeInput:
    """Everything known about a file when it is described (filled by the pipeline)."""

    media_type: str  # image | document
    filename: str
    content_category: str = "general"
    image: Image.Image | None = None  # upright RGB (for documents: the first page)
    facts: ImageFacts | None = None
    visible_text: str = ""
    text_regions: list[dict[str, Any]] = field(default_factory=list)
    document_format: str | None = None  # pdf, docx, txt, md
    page_count: int | None = None
    document_text: str | None = None
    sight: Sight | None = None  # what the local vision models found (images)


@dataclass(frozen=True)
class Description:
    description: str
    tags: list[str]
    key_elements: list[str]
    analysis_level: str  # "basic" or "local" (offline analysers), "standard" for a model
    provider: str


class DescriptionProvider(Protocol):
    name: str

    async def describe(self, item: DescribeInput) -> Description:
        """Describe one file; raise ``StepError`` with a classified type on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections (called once, when the server stops)."""
        ...
