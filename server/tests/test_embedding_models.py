"""The ``openai`` embedder against a local protocol server, a change of model (the library is
indexed again in the background while search keeps answering) and ``scopix-server reindex``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from model_servers import EmbeddingServer, Reply
from scopix_server import Settings
from scopix_server.processing import StepError
from scopix_server.providers.embedding import OpenAIEmbedder, build_embedder
from server_support import make_key, serving, wait_until_terminal_sync

pytestmark = pytest.mark.anyio

NOTES = {
    "whales.txt": "Humpback whales sing long songs in the cold ocean.",
    "bread.txt": "Knead the dough, let it rise, then bake the bread for forty minutes.",
    "trains.txt": "The night train to Vienna leaves from platform nine at ten.",
}


@pytest.fixture
def endpoint() -> Iterator[EmbeddingServer]:
    server = EmbeddingServer(key="sk-local")
    yield server
    server.stop()


def _embedder(endpoint: EmbeddingServer, model: str = "bag") -> OpenAIEmbedder:
    return OpenAIEmbedder(base_url=endpoint.url, model=model, api_key="sk-local", timeout=5)


async def test_vectors_come_back_in_order_unit_length_and_named_by_model(
    endpoint: EmbeddingServer,
) -> None:
    embedder = _embedder(endpoint)
    try:
        vectors = await embedder.embed(["whale song", "", "train platform"])
    finally:
        await embedder.aclose()
    assert vectors.shape == (3, 512) and embedder.dimension == 512
    assert np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    expected = np.array(endpoint.vector("whale song"), dtype=np.float32)
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    assert endpoint.seen[0]["model"] == "bag" and endpoint.seen[0]["input"][1] == " "
    assert embedder.model.startswith("openai:bag@")
    other = _embedder(endpoint, "bag-2")
    assert other.model != embedder.model  # a vector never passes for another model's
    await other.aclose()


@pytest.mark.parametrize(
    ("reply", "error_type", "words"),
    [
        (Reply(status=503, error=("overloaded", "try later")), "vlm_error", "503"),
        (Reply(status=429, error=("rate_limit", "slow down")), "rate_limit", "429"),
        (Reply(status=400, error=("invalid_request_error", "too long")), "validation", "400"),
        (Reply(status=404, error=("model_not_found", "no such model")), "unknown", "model"),
        (
            Reply(status=200, body=b'{"data": [{"embedding": [1, 2]}]}'),
            "vlm_error",
            "1 vectors for 2",
        ),
        (Reply(status=200, body=b"<html>"), "vlm_error", "JSON"),
        (
            Reply(status=200, body=b'{"data": [{"index": 0, "embedding": ["x", "y"]}]}'),
            "vlm_error",
            "not numbers",
        ),
    ],
)
async def test_failures_are_classified(
    endpoint: EmbeddingServer, reply: Reply, error_type: str, words: str
) -> None:
    endpoint.script.append(reply)
    embedder = _embedder(endpoint)
    texts = ["one", "two"] if words == "1 vectors for 2" else ["one"]
    try:
        with pytest.raises(StepError) as caught:
            await embedder.embed(texts)
    finally:
        await embedder.aclose()
    assert caught.value.error_type == error_type
    assert words in str(caught.value)


async def test_a_model_that_changes_its_dimension_is_refused(endpoint: EmbeddingServer) -> None:
    embedder = _embedder(endpoint)
    try:
        await embedder.embed(["first"])
        endpoint.dimension = 256
        with pytest.raises(StepError, match="512-d"):
            await embedder.embed(["second"])
    finally:
        await embedder.aclose()


def test_the_openai_embedder_at_openai_needs_a_key() -> None:
    with pytest.raises(ValueError, match="SCOPIX_SERVER_EMBEDDING_API_KEY"):
        Settings(embedder="openai")
    assert Settings(embedder="openai", openai_api_key="sk-x").resolved_embedding_api_key == "sk-x"
    assert build_embedder(Settings(embedder="none")) is None


def _settings(endpoint: EmbeddingServer, model: str) -> dict[str, Any]:
    return {
        "embedder": "openai",
        "embedding_base_url": endpoint.url,
        "embedding_model": model,
        "embedding_api_key": "sk-local",
        "job_poll_seconds": 0.1,
    }


def _upload_notes(api: httpx.Client) -> dict[str, str]:
    ids = {}
    for name, text in NOTES.items():
        response = api.post("/files/upload", files={"file": (name, text.encode())})
        assert response.status_code == 201, response.text
        ids[name] = response.json()["image_id"]
    for file_id in ids.values():
        wait_until_terminal_sync(api, file_id)
    return ids


def _search(api: httpx.Client, query: str, mode: str) -> list[str]:
    response = api.post("/agents/search/documents", json={"query": query, "mode": mode})
    assert response.status_code == 200, response.text
    return [hit["document_id"] for hit in response.json()["results"]]


def test_a_new_model_reindexes_in_the_background_while_search_answers(
    tmp_path: Path, endpoint: EmbeddingServer
) -> None:
    data = tmp_path / "data"
    with serving(data, **_settings(endpoint, "first")) as live:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(live.settings, 'notes')}"},
        )
        ids = _upload_notes(api)
        details = api.get(f"/files/{ids['whales.txt']}").json()
        assert details["embedding_status"] == "completed"
        assert details["embedding_model"].startswith("openai:first@")
        assert _search(api, "humpback whales sing", "semantic")[0] == ids["whales.txt"]
        first_requests = len(endpoint.seen)

    endpoint.delay = 30.0  # the new model indexes slowly: the files wait to be indexed
    endpoint.slow_when = lambda texts: any(text in NOTES.values() for text in texts)
    with serving(data, **_settings(endpoint, "second")) as live:
        api.base_url = httpx.URL(live.base_url + "/")
        deadline = time.monotonic() + 20
        while len(endpoint.seen) == first_requests:  # the restart queued them, unasked
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # meanwhile: words still find, and no vector of the first model is compared
        assert _search(api, "whales", "hybrid")[0] == ids["whales.txt"]
        assert _search(api, "humpback whales sing", "semantic") == []
        endpoint.delay = 0.0
        deadline = time.monotonic() + 60
        while True:
            models = {api.get(f"/files/{i}").json()["embedding_model"] for i in ids.values()}
            if all(m and m.startswith("openai:second@") for m in models):
                break
            assert time.monotonic() < deadline, models
            time.sleep(0.1)
        assert _search(api, "humpback whales sing", "semantic")[0] == ids["whales.txt"]
    api.close()


def _reindex(data: Path, endpoint: EmbeddingServer, model: str, *args: str) -> Any:
    env = dict(os.environ)  # (conftest cleared the ambient settings; --backends scaled set its own)
    env.update(
        SCOPIX_SERVER_EMBEDDER="openai",
        SCOPIX_SERVER_EMBEDDING_BASE_URL=endpoint.url,
        SCOPIX_SERVER_EMBEDDING_MODEL=model,
        SCOPIX_SERVER_EMBEDDING_API_KEY="sk-local",
    )
    return subprocess.run(
        [sys.executable, "-m", "scopix_server", "reindex", "--data-dir", str(data), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reindex_indexes_what_is_stale_and_resumes(
    tmp_path: Path, endpoint: EmbeddingServer
) -> None:
    data = tmp_path / "data"
    with serving(data, **_settings(endpoint, "first")) as live:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(live.settings, 'notes')}"},
        )
        ids = _upload_notes(api)
        api.close()
    # one file's texts are refused by the new model: it fails, the others are indexed
    endpoint.script.append(Reply(status=400, error=("invalid_request_error", "too long")))
    done = _reindex(data, endpoint, "third")
    assert done.returncode == 1, done.stderr
    assert "3 files to index with openai:third@" in done.stderr
    assert "indexing" in done.stderr  # the progress bar
    assert done.stdout.strip() == "indexed 2 files, 1 failed"
    again = _reindex(data, endpoint, "third")  # nothing left but the failure
    assert again.returncode == 0 and "0 files to index" in again.stderr, again.stderr
    retried = _reindex(data, endpoint, "third", "--failed")
    assert retried.returncode == 0 and retried.stdout.strip() == "indexed 1 files"
    with serving(data, **_settings(endpoint, "third")) as live:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(live.settings, 'notes')}"},
        )
        models = {api.get(f"/files/{i}").json()["embedding_model"] for i in ids.values()}
        assert len(models) == 1 and models.pop().startswith("openai:third@")
        assert _search(api, "night train to Vienna", "semantic")[0] == ids["trains.txt"]
        api.close()


def test_reindex_without_an_embedder_says_so(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["SCOPIX_SERVER_EMBEDDER"] = "none"
    done = subprocess.run(
        [sys.executable, "-m", "scopix_server", "reindex", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "SCOPIX_SERVER_EMBEDDER=none" in done.stderr


def test_without_an_embedder_hybrid_is_lexical_and_semantic_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path / "data", embedder="none") as live:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(live.settings, 'notes')}"},
        )
        ids = _upload_notes(api)
        status = api.get(f"/files/{ids['bread.txt']}/status").json()
        assert status["embedding_status"] == "skipped" and status["is_terminal"]
        found = api.post("/agents/search/documents", json={"query": "bake bread"}).json()
        assert found["search_mode"] == "lexical" and "turned off" in found["summary"]
        assert found["document_ids"] == [ids["bread.txt"]]
        refused = api.post(
            "/agents/search/documents", json={"query": "bake bread", "mode": "semantic"}
        )
        assert refused.status_code == 400 and "SCOPIX_SERVER_EMBEDDER" in refused.text
        api.close()


def test_a_change_made_while_indexing_is_never_overwritten_by_the_older_vectors(
    tmp_path: Path, endpoint: EmbeddingServer
) -> None:
    endpoint.delay = 30.0
    endpoint.slow_when = lambda texts: any("Humpback" in text for text in texts)
    with serving(tmp_path / "data", **_settings(endpoint, "first")) as live:
        headers = {"authorization": f"Bearer {make_key(live.settings, 'notes')}"}
        with httpx.Client(base_url=live.base_url, headers=headers) as api:
            response = api.post("/files/upload", files={"file": ("w.txt", NOTES["whales.txt"])})
            file_id = response.json()["image_id"]
            deadline = time.monotonic() + 30
            while not endpoint.seen:  # the first texts are at the (held) embedder
                assert time.monotonic() < deadline
                time.sleep(0.05)
            changed = api.patch(f"/files/{file_id}", json={"title": "Orca pod near the fjord"})
            assert changed.status_code == 200
            endpoint.delay = 0.0
            status = wait_until_terminal_sync(api, file_id)
            assert status["embedding_status"] == "completed"
            assert _search(api, "orca pod fjord", "semantic") == [file_id]
    with_title = [body for body in endpoint.seen if any("Orca" in t for t in body["input"])]
    # the held job found the file changed when it came to write, and embedded it again (then
    # the job queued by the change did too): its older vectors were never kept
    assert len(with_title) >= 2


def test_when_the_embedder_fails_hybrid_falls_back_to_every_word_and_semantic_is_503(
    tmp_path: Path, endpoint: EmbeddingServer
) -> None:
    with serving(tmp_path / "data", **_settings(endpoint, "first")) as live:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(live.settings, 'notes')}"},
        )
        ids = _upload_notes(api)
        query = {"query": "whales ocean bake"}
        # while the embedder answers, a file that holds one word of three is no lexical match
        found = api.post("/agents/search/documents", json={**query, "mode": "hybrid"}).json()
        assert found["search_mode"] == "hybrid"
        assert found["document_ids"][0] == ids["whales.txt"]
        endpoint.script.append(Reply(status=400, error=("invalid_request_error", "refused")))
        fallen = api.post("/agents/search/documents", json={**query, "mode": "hybrid"}).json()
        assert fallen["search_mode"] == "lexical"
        assert "embedder failed" in fallen["summary"] and "400" in fallen["summary"]
        # by words alone, every word counts again: the bread note shares "bake"
        assert set(fallen["document_ids"]) == {ids["whales.txt"], ids["bread.txt"]}
        endpoint.script.append(Reply(status=400, error=("invalid_request_error", "refused")))
        refused = api.post("/agents/search/documents", json={**query, "mode": "semantic"})
        assert refused.status_code == 503 and "embedder failed" in refused.text
        api.close()
