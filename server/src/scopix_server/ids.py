"""Ids as the API takes them: UUIDs in the documented 8-4-4-4-12 form, in either case; stored
and compared in lower case (``str(uuid.UUID(...))``), so that an id a client upper-cased finds
the same row everywhere."""

from __future__ import annotations

import re
import uuid

__all__ = ["UUID_PATTERN", "canonical_id"]

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_PATTERN)


def canonical_id(value: str) -> str | None:
    """``value`` as stored, if it is a UUID in the documented form; ``None`` otherwise."""
    return str(uuid.UUID(value)) if _UUID.fullmatch(value) else None
