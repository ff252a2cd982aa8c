"""Lenient conversions of API JSON values, and JSON-ready dicts out of dataclasses."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from enum import Enum
from typing import Any

__all__: list[str] = []


def parse_datetime(value: Any) -> datetime | None:
    """ISO-8601 (``...Z`` included) to an aware ``datetime``; ``None`` for absent or unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def int_or(value: Any, default: int) -> int:
    parsed = opt_int(value)
    return default if parsed is None else parsed


def opt_str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):  # some routes send tags as "a,b,c"
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)]


def opt_dict_list(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    return [dict(item) for item in value if isinstance(item, dict)]


def jsonable(value: Any) -> Any:
    """``value`` with only JSON types: enums, datetimes and nested dataclasses converted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def to_dict(instance: Any, *, exclude_none: bool) -> dict[str, Any]:
    """A dataclass as a JSON-ready dict: enums as values, datetimes as ISO-8601 strings."""
    result = {}
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if value is None and exclude_none:
            continue
        result[field.name] = jsonable(value)
    return result
