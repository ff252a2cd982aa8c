"""People: the faces a server groups per tenant (when its administrator turned it on)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._convert import int_or, opt_str, parse_datetime, to_dict

__all__ = ["PeopleList", "Person"]


@dataclass(frozen=True)
class Person:
    """A group of faces the server takes for one person."""

    id: str
    name: str | None = None
    file_count: int = 0
    face_count: int = 0
    # a face of theirs: {"file_id", "bbox": {x, y, width, height} normalised 0-1}
    cover: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> Person:
        ident = opt_str(data.get("id"))
        if not ident:
            raise ValueError(f"person has no id: keys {sorted(data)}")
        cover = data.get("cover")
        return cls(
            id=ident,
            name=opt_str(data.get("name")),
            file_count=int_or(data.get("file_count"), 0),
            face_count=int_or(data.get("face_count"), 0),
            cover=dict(cover) if isinstance(cover, Mapping) else {},
            created_at=parse_datetime(data.get("created_at")),
        )


@dataclass(frozen=True)
class PeopleList:
    """One page of ``people.list``, most files first."""

    items: list[Person]
    total_count: int
    has_more: bool
    limit: int
    offset: int

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> PeopleList:
        items = data.get("items")
        if not isinstance(items, list):
            raise ValueError(f"people list has no items: keys {sorted(data)}")
        return cls(
            items=[Person.from_api_response(item) for item in items],
            total_count=int_or(data.get("total_count"), len(items)),
            has_more=data.get("has_more") is True,
            limit=int_or(data.get("limit"), len(items)),
            offset=int_or(data.get("offset"), 0),
        )
