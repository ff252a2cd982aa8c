"""``client.agent_search``: find images and document passages by what they mean."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._responses import parse
from ..types.search import DocumentSearchAgentResult, ImageSearchAgentResult

if TYPE_CHECKING:
    from .._base_client import HTTPCore

__all__ = ["AgentSearch"]

MODES = ("hybrid", "semantic", "lexical")


def _query(query: str, limit: int, mode: str | None) -> dict[str, Any]:
    if not isinstance(query, str) or not 1 <= len(query) <= 2000:
        raise ValueError("query must be a string of 1 to 2000 characters")
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be from 1 to 500; got {limit}")
    body: dict[str, Any] = {"query": query, "limit": limit}
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        body["mode"] = mode
    return body


def _id_list(ids: Sequence[str] | None, name: str) -> builtins.list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        raise TypeError(f"{name} must be a list of ids, not one string")
    return [str(i) for i in ids]


class AgentSearch:
    """Reached as ``client.agent_search``. Stateless: each call is one search."""

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    async def images(
        self,
        query: str,
        *,
        limit: int = 50,
        folder_id: str | None = None,
        image_ids: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> ImageSearchAgentResult:
        """The images that best match ``query`` (what they show or the text in them).

        Args:
            query: what to find, in plain words (1-2000 characters).
            limit: most results (1-500).
            folder_id: only images of this folder.
            image_ids: only among these images.
            mode: ``hybrid`` (the server's default: words and meaning fused), ``semantic`` or
                ``lexical``; the result's ``search_mode`` says which ran.
        """
        body = _query(query, limit, mode)
        if folder_id is not None:
            body["folder_id"] = folder_id
        if (ids := _id_list(image_ids, "image_ids")) is not None:
            body["image_ids"] = ids
        response = await self._core.request("POST", "/agents/search/images", json=body)
        return parse(response, ImageSearchAgentResult.from_api_response)

    async def documents(
        self,
        query: str,
        *,
        limit: int = 50,
        document_ids: Sequence[str] | None = None,
        document_types: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> DocumentSearchAgentResult:
        """The passages of documents that best match ``query``, with their pages.

        Args:
            query: what to find, in plain words (1-2000 characters).
            limit: most passages (1-500).
            document_ids: only among these documents.
            document_types: only these formats, e.g. ``["pdf", "docx"]``.
            mode: ``hybrid`` (default), ``semantic`` or ``lexical``.
        """
        body = _query(query, limit, mode)
        if (ids := _id_list(document_ids, "document_ids")) is not None:
            body["document_ids"] = ids
        if (types := _id_list(document_types, "document_types")) is not None:
            body["document_types"] = types
        response = await self._core.request("POST", "/agents/search/documents", json=body)
        return parse(response, DocumentSearchAgentResult.from_api_response)
