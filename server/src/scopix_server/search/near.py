"""Near-duplicate pictures by a difference hash: the same picture resized, re-encoded, lightly
cropped or recoloured gets the same 64 bits, or bits a few flips apart.

The hash compares each pixel of a 9x8 greyscale miniature with its right neighbour, so it
follows the picture's structure rather than its bytes or colours.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image

__all__ = ["NEAR_BITS", "difference_hash", "distance", "nearest_duplicates"]

NEAR_BITS = 10  # of 64: at most this many differing bits is the same picture


def difference_hash(image: Image.Image) -> str:
    """The 64-bit difference hash of ``image``, as 16 hex digits."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    brighter = (small[:, :-1] > small[:, 1:]).flatten()  # 64 comparisons, row by row
    return f"{int(''.join('1' if bit else '0' for bit in brighter), 2):016x}"


def distance(a: str, b: str) -> int:
    """How many of the 64 bits differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def nearest_duplicates(
    target: str, candidates: Iterable[tuple[str, str]], *, max_bits: int = NEAR_BITS
) -> list[tuple[str, int]]:
    """``(id, bits)`` of the candidates ``(id, hash)`` within ``max_bits`` of ``target``,
    closest first."""
    found = []
    for ident, other in candidates:
        bits = distance(target, other)
        if bits <= max_bits:
            found.append((ident, bits))
    found.sort(key=lambda pair: pair[1])
    return found
