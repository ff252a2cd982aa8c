"""``client.agent_search`` and ``client.files.similar``: requests sent, answers read, bad
arguments refused before any request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scopix import (
    DocumentSearchAgentResult,
    ImageSearchAgentResult,
    Scopix,
    SimilarFiles,
    ValidationError,
)
from sdk_support import Recorder, error_body, json_response

pytestmark = pytest.mark.anyio

IMAGE_ANSWER = {
    "success": True,
    "results": [
        {
            "image_id": "img-1",
            "score": 0.91,
            "filename": "harbour.jpg",
            "title": None,
            "description": "Boats at dusk.",
            "folder_id": None,
            "thumbnail_url": "https://cdn.test/t.webp",
            "matched": "description",
            "features": None,
        }
    ],
    "count": 1,
    "result_ids": ["img-1"],
    "summary": "Found 1 image",
    "summary_raw": "Found 1 image",
    "result_refs": {},
    "search_mode": "hybrid",
    "search_strategy": {"mode": "hybrid"},
    "execution_time_ms": 12,
    "iterations": 1,
    "token_usage": None,
    "some_future_field": [1, 2],
}


async def test_images_sends_the_query_and_reads_the_ranked_results(
    make_client: Callable[..., Scopix], recorder: Recorder
) -> None:
    async with make_client(lambda request: json_response(200, IMAGE_ANSWER)) as client:
        found = await client.agent_search.images(
            "boats at dusk", limit=5, folder_id="f-1", image_ids=["a", "b"], mode="semantic"
        )
    sent = recorder.requests[0]
    assert sent.method == "POST" and sent.url.path == "/api/v2/agents/search/images"
    assert json.loads(sent.content) == {
        "query": "boats at dusk",
        "limit": 5,
        "mode": "semantic",
        "folder_id": "f-1",
        "image_ids": ["a", "b"],
    }
    assert isinstance(found, ImageSearchAgentResult)
    assert found.result_ids == ["img-1"] and found.search_mode == "hybrid"
    item = found.results[0]
    assert (item.image_id, item.score, item.matched) == ("img-1", 0.91, "description")
    assert found.to_dict()["results"][0]["thumbnail_url"] == "https://cdn.test/t.webp"
    with pytest.raises(AttributeError):
        found.count = 2  # type: ignore[misc]  # frozen


async def test_documents_reads_passages_with_pages(
    make_client: Callable[..., Scopix], recorder: Recorder
) -> None:
    answer: dict[str, Any] = {
        "success": True,
        "results": [
            {
                "chunk_id": "doc-1:2",
                "document_id": "doc-1",
                "document_filename": "lease.pdf",
                "filename": "lease.pdf",
                "chunk_index": 2,
                "text": "The tenant pays a late fee of 5 %.",
                "page_numbers": [3, 4],
                "score": 0.5,
            },
            {"document_id": "doc-2", "filename": "b.txt", "chunk_index": 0, "text": "x"},
        ],
        "count": 2,
        "search_mode": "lexical",
        "execution_time_ms": 3,
        "iterations": 1,
    }
    async with make_client(lambda request: json_response(200, answer)) as client:
        found = await client.agent_search.documents("late fee", document_types=["pdf"])
    assert json.loads(recorder.requests[0].content) == {
        "query": "late fee",
        "limit": 50,
        "document_types": ["pdf"],
    }
    assert isinstance(found, DocumentSearchAgentResult)
    first, second = found.results
    assert (first.chunk_id, first.page_numbers, first.document_filename) == (
        "doc-1:2",
        [3, 4],
        "lease.pdf",
    )
    # an older server's shape: the id and filename are filled in from what is there
    assert (second.chunk_id, second.document_filename, second.page_numbers) == (
        "doc-2:0",
        "b.txt",
        None,
    )
    assert found.document_ids == ["doc-1", "doc-2"] and found.chunk_ids == ["doc-1:2", "doc-2:0"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.agent_search.images(""), "1 to 2000"),
        (lambda c: c.agent_search.images("x" * 2001), "1 to 2000"),
        (lambda c: c.agent_search.images("cat", limit=0), "limit"),
        (lambda c: c.agent_search.documents("cat", limit=501), "limit"),
        (lambda c: c.agent_search.images("cat", mode="psychic"), "mode"),
        (lambda c: c.files.similar("id", limit=101), "limit"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    make_client: Callable[..., Scopix], recorder: Recorder, call: Any, message: str
) -> None:
    async with make_client(lambda request: json_response(200, {})) as client:
        with pytest.raises(ValueError, match=message):
            await call(client)
    assert recorder.requests == []


async def test_one_id_string_is_not_a_list_of_ids(make_client: Callable[..., Scopix]) -> None:
    async with make_client(lambda request: json_response(200, {})) as client:
        with pytest.raises(TypeError, match="list of ids"):
            await client.agent_search.images("cat", image_ids="abc")  # type: ignore[arg-type]


async def test_a_refused_search_raises_the_typed_error(make_client: Callable[..., Scopix]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return json_response(400, error_body("VALIDATION_ERROR", "search by meaning is off"))

    async with make_client(refuse) as client:
        with pytest.raises(ValidationError, match="search by meaning is off"):
            await client.agent_search.images("cat", mode="semantic")


async def test_similar_reads_near_duplicates_first(
    make_client: Callable[..., Scopix], recorder: Recorder
) -> None:
    answer = {
        "file_id": "f-1",
        "items": [
            {"id": "f-2", "filename": "small.jpg", "score": 0.97, "near_duplicate": True,
             "hash_distance": 2, "media_type": "image", "title": None, "thumbnail_url": None},
            {"id": "f-3", "filename": "b.jpg", "score": 0.6, "near_duplicate": False,
             "hash_distance": None, "media_type": "image", "title": "B", "thumbnail_url": None},
        ],
        "count": 2,
    }  # fmt: skip
    async with make_client(lambda request: json_response(200, answer)) as client:
        similar = await client.files.similar("f-1", limit=3)
    sent = recorder.requests[0]
    assert sent.url.path == "/api/v2/files/f-1/similar" and sent.url.params["limit"] == "3"
    assert isinstance(similar, SimilarFiles) and similar.count == 2
    assert [item.id for item in similar.near_duplicates] == ["f-2"]
    assert similar.items[1].title == "B"


def test_the_blocking_client_searches_too() -> None:
    from scopix import SyncScopix

    def answer(request: httpx.Request) -> httpx.Response:
        return json_response(200, IMAGE_ANSWER)

    from scopix import ClientConfig
    from sdk_support import BASE_URL, VALID_KEY

    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL)
    with SyncScopix.from_config(config, transport=httpx.MockTransport(answer)) as client:
        found = client.agent_search.images("boats")
    assert found.result_ids == ["img-1"]
