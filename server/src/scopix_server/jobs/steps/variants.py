"""Renditions of an upright RGB image: four sizes as WebP, and a BlurHash placeholder.

Contract: ``render_variants(image)`` reads the image, writes nothing, and returns the encoded
bytes of each variant (an image smaller than a variant is not enlarged). The caller stores them.
"""

from __future__ import annotations

import io

from PIL import Image

from .blurhash import encode_blurhash

__all__ = ["VARIANTS", "blur_hash", "fitted", "render_variants"]

VARIANTS: dict[str, int] = {"tiny_64": 64, "small_256": 256, "medium_750": 750, "large_1024": 1024}
THUMBNAIL = "small_256"
CONTENT_TYPE = "image/webp"


def fitted(
    image: Image.Image,
    side: int,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
    reducing_gap: float | None = 3.0,
) -> Image.Image:
    """``image`` at most ``side`` pixels long (its aspect kept; a smaller one is returned as it
    is). Resized straight from the source: ``copy()`` then ``thumbnail()`` would first hold a
    second full-size copy, 288 MB for a 96-megapixel photo."""
    width, height = image.size
    if max(width, height) <= side:
        return image
    scale = side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, resample, reducing_gap=reducing_gap)


def render_variants(image: Image.Image, *, quality: int = 80) -> dict[str, bytes]:
    rendered: dict[str, bytes] = {}
    source = image
    for name, side in sorted(VARIANTS.items(), key=lambda item: -item[1]):
        smaller = fitted(source, side)
        out = io.BytesIO()
        smaller.save(out, "WEBP", quality=quality, method=4)
        rendered[name] = out.getvalue()
        source = smaller  # each smaller size starts from the previous one (faster, same quality)
    return rendered


def blur_hash(image: Image.Image) -> str:
    x, y = (4, 3) if image.width >= image.height else (3, 4)
    return encode_blurhash(image, x_components=x, y_components=y)
