"""BlurHash encoding (the compact placeholder of an image), after the public algorithm.

A handful of cosine components of the image in linear RGB, quantised and written in base 83:
one character for the component counts, one for the AC scale, four for the average colour and
two for each further component.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["encode_blurhash"]

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_linear(channel: np.ndarray) -> np.ndarray:
    value = channel / 255.0
    return np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)


def _to_srgb(value: float) -> int:
    value = min(1.0, max(0.0, value))
    if value <= 0.0031308:
        return int(value * 12.92 * 255 + 0.5)
    return int((1.055 * value ** (1 / 2.4) - 0.055) * 255 + 0.5)


def encode_blurhash(image: Image.Image, *, x_components: int = 4, y_components: int = 3) -> str:
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("BlurHash needs 1 to 9 components on each axis")
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    pixels = _to_linear(np.asarray(small, dtype=np.float64))  # (h, w, 3)
    height, width = pixels.shape[:2]
    xs = np.arange(width) / width
    ys = np.arange(height) / height
    factors: list[np.ndarray] = []
    for j in range(y_components):
        for i in range(x_components):
            basis = np.outer(np.cos(np.pi * j * ys), np.cos(np.pi * i * xs))  # (h, w)
            scale = 1.0 if i == j == 0 else 2.0
            factors.append(scale * (pixels * basis[:, :, None]).sum(axis=(0, 1)) / (width * height))
    dc, ac = factors[0], factors[1:]
    out = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual = float(max(np.abs(component).max() for component in ac))
        quantised = int(max(0, min(82, int(actual * 166 - 0.5))))
        maximum = (quantised + 1) / 166
        out += _base83(quantised, 1)
    else:
        maximum = 1.0
        out += _base83(0, 1)
    out += _base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for component in ac:
        q = [
            int(max(0, min(18, int(np.sign(v) * abs(v / maximum) ** 0.5 * 9 + 9.5))))
            for v in component
        ]
        out += _base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out
