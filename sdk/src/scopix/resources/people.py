"""``client.people``: the faces in your pictures grouped into people (on servers that do it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._responses import parse
from ..types.files import FileList
from ..types.people import PeopleList, Person
from ._common import path_id

if TYPE_CHECKING:
    from .._base_client import HTTPCore

__all__ = ["People"]


def _page(limit: int, offset: int) -> dict[str, Any]:
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be from 1 to 100; got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more; got {offset}")
    return {"limit": limit, "offset": offset}


class People:
    """Reached as ``client.people``. A server groups faces only when its administrator turned
    it on (``SCOPIX_SERVER_PEOPLE=true``); elsewhere these calls raise ``ResourceNotFoundError``."""

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    async def list(self, *, limit: int = 20, offset: int = 0) -> PeopleList:
        """The people in your pictures, most files first."""
        response = await self._core.request("GET", "/people", params=_page(limit, offset))
        return parse(response, PeopleList.from_api_response)

    async def files(self, person_id: str, *, limit: int = 20, offset: int = 0) -> FileList:
        """The files with a face of ``person_id``, newest first."""
        response = await self._core.request(
            "GET", f"/people/{path_id(person_id)}/files", params=_page(limit, offset)
        )
        return parse(response, FileList.from_api_response)

    async def rename(self, person_id: str, name: str | None) -> Person:
        """Name a person (``None`` forgets the name)."""
        response = await self._core.request(
            "PATCH", f"/people/{path_id(person_id)}", json={"name": name}
        )
        return parse(response, Person.from_api_response)

    async def merge(self, person_id: str, other_id: str) -> Person:
        """Move ``other_id``'s faces to ``person_id`` (one person the server took for two);
        ``other_id`` then goes."""
        response = await self._core.request(
            "POST", f"/people/{path_id(person_id)}/merge", json={"person_id": other_id}
        )
        return parse(response, Person.from_api_response)
