"""Reading the body of a success response: the JSON object the call expects, or one
``UnexpectedResponseError``.

Every resource reads its answers through ``json_object`` or ``parse``, so that an HTML page from a
captive portal, a list where an object belongs, or an object of the wrong shape is a
``ScopixError`` like any other failure, never a ``json.JSONDecodeError`` or ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from ._errors import unexpected_response

__all__ = ["json_object", "parse"]

T = TypeVar("T")

# What reading a field of the wrong type or a missing field raises inside ``from_api_response``
# (the types raise ValueError themselves when a required field is absent).
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's body as a JSON object; ``UnexpectedResponseError`` if it is anything else
    (not JSON, or JSON but not an object)."""
    try:
        data = response.json()
    except ValueError:  # (JSONDecodeError and UnicodeDecodeError both are ValueErrors)
        raise unexpected_response(response, "a body that is not JSON") from None
    if not isinstance(data, dict):
        raise unexpected_response(response, f"a JSON {type(data).__name__} where an object belongs")
    return data


def parse(response: httpx.Response, build: Callable[[dict[str, Any]], T]) -> T:
    """``build`` (a ``from_api_response``, or a function around one) applied to the response's
    JSON object; a body of the wrong shape (a field of the wrong type, a required one missing)
    raises ``UnexpectedResponseError`` instead of the error ``build`` ran into."""
    data = json_object(response)
    try:
        return build(data)
    except SHAPE_ERRORS as exc:
        raise unexpected_response(
            response, f"JSON of an unexpected shape ({type(exc).__name__}: {exc})"
        ) from exc
