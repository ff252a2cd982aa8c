"""Answers the client cannot use (an HTML page, JSON of the wrong shape, a redirect) raise
``UnexpectedResponseError``, a ``ScopixError``, from every resource: never a JSONDecodeError or an
AttributeError, and never a silent success."""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from scopix import Scopix, ScopixError, UnexpectedResponseError
from sdk_support import BASE_URL, Recorder, json_response

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., Scopix]
Call = Callable[[Scopix], Awaitable[Any]]

PORTAL = "<!DOCTYPE html><html><head><title>Sign in to the hotel Wi-Fi</title></head>" + (
    "<p>" + "x" * 400 + "</p></html>"
)
FILE_ID = "0b7e4c1a-5d2f-4e8a-9c3b-1f2e3d4c5b6a"

# One call per resource, and per way of reading an answer (parse / json_object).
CALLS: dict[str, Call] = {
    "files.get": lambda c: c.files.get(FILE_ID),
    "files.list": lambda c: c.files.list(),
    "files.check_quota": lambda c: c.files.check_quota(),
    "files.get_chunks": lambda c: c.files.get_chunks(FILE_ID),
    "chats.create_session": lambda c: c.chats.create_session(),
    "chats.close_session": lambda c: c.chats.close_session("s-1"),
    "people.list": lambda c: c.people.list(),
    "agent_search.images": lambda c: c.agent_search.images("boats"),
    "images.analyze": lambda c: c.images.analyze(url="https://example.com/a.jpg"),
}


def html(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=PORTAL, headers={"Content-Type": "text/html", **headers})


@pytest.mark.parametrize("name", CALLS)
async def test_an_html_page_instead_of_json_is_an_unexpected_response_error(
    make_client: MakeClient, name: str
) -> None:
    async with make_client(lambda request: html(**{"X-Request-ID": "req_portal"})) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await CALLS[name](client)
    error = caught.value
    assert isinstance(error, ScopixError)
    assert error.status_code == 200
    assert error.request_id == "req_portal"
    assert "not JSON" in error.message
    assert "Sign in to the hotel Wi-Fi" in error.message  # the body is quoted...
    assert PORTAL[:200] in error.message
    assert PORTAL[:201] not in error.message  # ...its first 200 characters only
    assert error.details["content_type"] == "text/html"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("files.check_quota", [1, 2]),
        ("files.get", "a string"),
        ("chats.close_session", [1, 2]),
        ("files.list", {"items": [1]}),
        ("people.list", {"items": [1]}),
        ("chats.create_session", {"title": "no session_id"}),
        ("files.get_chunks", {"items": ["not an object"]}),
        ("agent_search.images", [{"results": []}]),
    ],
)
async def test_json_of_the_wrong_shape_is_an_unexpected_response_error(
    make_client: MakeClient, name: str, body: Any
) -> None:
    async with make_client(lambda request: json_response(200, body)) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await CALLS[name](client)
    assert caught.value.status_code == 200
    assert "JSON" in caught.value.message


async def test_a_redirect_is_an_error_and_is_not_retried(
    make_client: MakeClient, recorder: Recorder
) -> None:
    portal = "https://portal.example/login"
    async with make_client(lambda request: html(302, Location=portal)) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.files.get(FILE_ID)
    assert caught.value.status_code == 302
    assert caught.value.details["location"] == portal
    assert "redirect" in caught.value.message
    assert len(recorder.requests) == 1


async def test_a_redirect_of_a_streamed_answer_is_an_error(make_client: MakeClient) -> None:
    async with make_client(lambda request: html(307, Location="https://elsewhere")) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            async for _ in client.chats.send_stream("hello", session_id="s-1"):
                pass
    assert caught.value.status_code == 307
    assert "Sign in to the hotel Wi-Fi" in caught.value.message


async def test_the_variant_route_still_answers_with_its_redirect(make_client: MakeClient) -> None:
    signed = "https://storage.example/o/abc?sig=1"
    async with make_client(lambda request: httpx.Response(302, headers={"Location": signed})) as c:
        assert await c.files.get_variant(FILE_ID, "original") == signed


async def test_a_variant_answer_without_its_location_is_an_unexpected_response_error(
    make_client: MakeClient,
) -> None:
    async with make_client(lambda request: html()) as client:
        with pytest.raises(UnexpectedResponseError, match="no Location"):
            await client.files.get_variant(FILE_ID)


async def test_client_request_returns_a_redirect_as_documented(make_client: MakeClient) -> None:
    async with make_client(lambda request: html(302, Location="https://x.example/")) as client:
        response = await client.request("GET", f"/files/{FILE_ID}/variants/original")
    assert response.status_code == 302


async def test_the_error_survives_pickling(make_client: MakeClient) -> None:
    async with make_client(lambda request: html()) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.files.check_quota()
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is UnexpectedResponseError
    assert copy.status_code == 200
    assert copy.message == caught.value.message


async def test_a_batch_answer_of_the_wrong_shape_fails_its_files_instead_of_the_call(
    make_client: MakeClient,
) -> None:
    quota = {"can_proceed": True, "available": 100, "max_batch_size": 10}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/uploads/quota-check"):
            return json_response(200, quota)
        return json_response(200, {"session_id": "s-1", "results": [1, 2]})

    async with make_client(handler) as client:
        results = await client.files.upload_batch([b"one", b"two"])
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("unexpected shape" in (r.description_error or "") for r in results)
    assert str(BASE_URL) in (results[0].description_error or "")
