"""Renditions of an upright RGB image: four sizes as WebP, and a BlurHash placeholder.

Contract: ``render_variants(image)`` reads the image, writes nothing, and returns the encoded
bytes of each variant (an image smaller than a variant is not enlarged). The caller stores them.
"""

from __future__ import annotations

import io

from PIL import Image

from .blurhash import encode_blurhash

__all__ = ["VARIANTS", "blur_hash", "render_variants"]

VARIANTS: dict[str, int] = {"tiny_64": 64, "small_256": 256, "medium_750": 750, "large_1024": 1024}
THUMBNAIL = "small_256"
CONTENT_TYPE = "image/webp"


def render_variants(image: Image.Image, *, quality: int = 80) -> dict[str, bytes]:
    rendered: dict[str, bytes] = {}
    source = image
    for name, side in sorted(VARIANTS.items(), key=lambda item: -item[1]):
        copy = source.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        copy.save(out, "WEBP", quality=quality, method=4)
        rendered[name] = out.getvalue()
        source = copy  # each smaller size starts from the previous one (faster, same quality)
    return rendered


def blur_hash(image: Image.Image) -> str:
    x, y = (4, 3) if image.width >= image.height else (3, 4)
    return encode_blurhash(image, x_components=x, y_components=y)
