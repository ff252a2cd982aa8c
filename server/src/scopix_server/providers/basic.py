"""The offline ``basic`` analyser: a factual description built only from what was measured.

It never invents content. Everything it says comes from the pixels (size, orientation,
dominant colours, how document-like the image is), from OCR, from EXIF (camera, date) or from
the document's own text. Its results carry ``analysis_level="basic"``.
"""

from __future__ import annotations

import anyio
import numpy as np
from PIL import Image

from .base import DescribeInput, Description

__all__ = ["BasicProvider", "document_like", "dominant_colours", "quote"]

# Named anchors in RGB; each pixel counts for the nearest one.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "red": (200, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 160, 60),
    "blue": (40, 90, 210),
    "sky blue": (120, 180, 235),
    "purple": (130, 60, 170),
    "pink": (240, 150, 190),
    "brown": (120, 75, 40),
    "beige": (220, 200, 160),
    "teal": (20, 140, 140),
}
_NAMES = list(PALETTE)
_ANCHORS = np.array([PALETTE[name] for name in _NAMES], dtype=np.float32)


def dominant_colours(image: Image.Image, *, minimum: float = 0.08) -> list[tuple[str, float]]:
    """Named colours covering at least ``minimum`` of the image, largest share first."""
    small = image.convert("RGB").resize((48, 48), Image.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.float32).reshape(-1, 3)
    nearest = np.argmin(((pixels[:, None, :] - _ANCHORS[None, :, :]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(_NAMES)) / len(pixels)
    ranked = sorted(
        ((name, float(share)) for name, share in zip(_NAMES, counts, strict=True)),
        key=lambda item: -item[1],
    )
    return [(name, round(share, 3)) for name, share in ranked if share >= minimum]


def _light_share(image: Image.Image) -> float:
    grey = np.asarray(image.convert("L").resize((64, 64)), dtype=np.uint8)
    return float((grey > 200).mean())


def _text_coverage(regions: list[dict[str, object]]) -> float:
    area = 0.0
    for region in regions:
        box = region.get("bbox")
        if isinstance(box, dict):
            area += float(box.get("width", 0)) * float(box.get("height", 0))
    return min(1.0, area)


def document_like(image: Image.Image, lines: list[str], regions: list[dict[str, object]]) -> bool:
    """Mostly text on a light ground: a page, a scan, a screenshot of text."""
    return (
        bool(lines)
        and (_text_coverage(regions) > 0.03 or len(lines) >= 4)
        and _light_share(image) > 0.45
    )


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def quote(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut with an ellipsis past ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _describe_image(item: DescribeInput) -> Description:
    assert item.image is not None and item.facts is not None
    facts = item.facts
    colours = dominant_colours(item.image)
    colour_names = [name for name, _share in colours[:3]]
    ratio = facts.width / facts.height
    shape = "landscape" if ratio > 1.1 else "portrait" if ratio < 0.9 else "square"
    lines = [line for line in item.visible_text.splitlines() if line.strip()]
    textual = document_like(item.image, lines, item.text_regions)
    kind = "document-like" if textual else "photo-like"
    megapixels = facts.width * facts.height / 1_000_000
    fmt = facts.format.upper()
    parts = [
        f"A {shape} {kind} {fmt} image, {facts.width}x{facts.height} pixels "
        f"({megapixels:.1f} MP)" + (f", mostly {_join(colour_names)}" if colour_names else "") + "."
    ]
    if facts.frames > 1:
        parts.append(f"It is animated ({facts.frames} frames); this describes the first.")
    if facts.camera or facts.content_created_at:
        taken = "Taken"
        if facts.camera:
            taken += f" with a {facts.camera}"
        if facts.content_created_at:
            taken += f" on {facts.content_created_at:%Y-%m-%d}"
        parts.append(taken + ".")
    if lines:
        parts.append(f'It contains text ({len(lines)} line{"s" * (len(lines) > 1)}): "'
                     f'{quote(" / ".join(lines))}".')  # fmt: skip
    else:
        parts.append("No text was found in it.")
    tags = [shape, "document" if textual else "photo", *colour_names, facts.format]
    if lines:
        tags.append("text")
    if facts.frames > 1:
        tags.append("animated")
    if facts.camera:
        tags.append("camera photo")
    if item.content_category != "general":
        tags.append(item.content_category)
    key_elements = [f"text: {quote(line, 80)}" for line in lines[:5]]
    key_elements += [f"colour: {name} ({share:.0%})" for name, share in colours[:3]]
    if facts.camera:
        key_elements.append(f"camera: {facts.camera}")
    return Description(
        description=" ".join(parts),
        tags=list(dict.fromkeys(tags)),
        key_elements=key_elements,
        analysis_level="basic",
        provider="basic",
    )


def _describe_document(item: DescribeInput) -> Description:
    fmt = (item.document_format or "text").upper()
    text = item.document_text or ""
    pages = item.page_count or 0
    size = f"{pages} page{'s' * (pages != 1)}" if pages else "no pages"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    parts = [f"A {fmt} document of {size}, {len(text):,} characters of text."]
    if lines:
        parts.append(f'It begins: "{quote(" ".join(lines), 240)}".')
    else:
        parts.append("No text could be extracted from it.")
    tags = ["document", fmt.lower()] + (["text"] if lines else [])
    if pages > 1:
        tags.append("multi-page")
    if item.content_category != "general":
        tags.append(item.content_category)
    return Description(
        description=" ".join(parts),
        tags=list(dict.fromkeys(tags)),
        key_elements=[quote(line, 80) for line in lines[:5]],
        analysis_level="basic",
        provider="basic",
    )


class BasicProvider:
    name = "basic"

    async def describe(self, item: DescribeInput) -> Description:
        if item.media_type == "document":
            return _describe_document(item)
        return await anyio.to_thread.run_sync(_describe_image, item)

    async def aclose(self) -> None:
        return None
