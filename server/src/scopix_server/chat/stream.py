"""Server-sent events of a chat turn: each token is ``event: <type>`` with a JSON ``data`` line
``{"type", "content", "data"}`` (the types of ``schemas.TOKEN_TYPES``)."""

from __future__ import annotations

import json
from typing import Any

from .schemas import TOKEN_TYPES

__all__ = ["sse", "words"]


def sse(kind: str, content: str | None = None, data: dict[str, Any] | None = None) -> bytes:
    if kind not in TOKEN_TYPES:
        raise ValueError(f"unknown chat token type {kind!r}")
    body = json.dumps({"type": kind, "content": content, "data": data}, default=str)
    return f"event: {kind}\ndata: {body}\n\n".encode()


def words(text: str, size: int = 48) -> list[str]:
    """``text`` in pieces of about ``size`` characters, cut after spaces or line ends (joined
    again they are ``text`` exactly)."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start:
                end = cut + 1
        pieces.append(text[start:end])
        start = end
    return pieces
