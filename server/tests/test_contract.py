"""The contract as clients meet it (issue 12 §4, §6, §7): the OpenAPI document's error answers and
content types, Allow on 405, offline docs, date-times, bounded list filters, the hosted API's
shapes (key scopes and metadata, delete messages, batch-delete summary) and provider failures."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from media_support import encode, text_image
from scopix_server.settings import Settings
from server_support import LiveServer, free_port, make_key, start_server


def client(live: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"})


def upload(
    http: httpx.Client, data: bytes, name: str = "a.png", **fields: str
) -> dict[str, object]:
    answer = http.post("/files/upload", files={"file": (name, data)})
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def png(text: str = "hello") -> bytes:
    image, _ = text_image([(text, 20, 20)], size=(240, 120), font_size=24)
    return encode(image, "PNG")


# --- §6 the OpenAPI document ---


def test_openapi_documents_error_answers_with_the_error_body(live: LiveServer) -> None:
    schema = httpx.get(f"{live.base_url}/openapi.json").json()
    paths = schema["paths"]
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    details = paths["/api/v2/files/{file_id}"]["get"]["responses"]
    for status in ("401", "403", "404", "429", "422"):
        assert details[status]["content"]["application/json"]["schema"] == ref, status
    upload_answers = paths["/api/v2/files/upload"]["post"]["responses"]
    assert {"400", "409", "413", "415", "503"} <= set(upload_answers)
    assert "409" in paths["/api/v2/files/{file_id}/describe"]["post"]["responses"]
    assert "HTTPValidationError" not in str(schema)  # FastAPI's 422 shape is not what we send
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "request_id"}
    # raw bytes and metrics are not JSON
    download = paths["/api/v2/files/{file_id}/download"]["get"]["responses"]["200"]["content"]
    assert list(download) == ["*/*"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    text = paths["/api/v2/files/{file_id}/text"]["get"]["responses"]
    assert list(text["200"]["content"]) == ["text/plain"]
    assert list(text["400"]["content"]) == ["application/json"]  # errors stay JSON


def test_a_real_404_matches_the_documented_body(live: LiveServer, key: str) -> None:
    with client(live, key) as http:
        answer = http.get("/files/00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404
    body = answer.json()
    assert set(body) >= {"error", "request_id"} and body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/files/batch-delete", "POST"),
        ("GET", "/files/batch-delete", "POST"),
        ("PUT", "/files/upload", "POST"),
        ("OPTIONS", "/files/0f0e0d0c-0000-0000-0000-000000000000", "DELETE, GET, PATCH"),
        ("OPTIONS", "/files/direct-uploads", "POST"),
        ("PUT", "/files/direct-uploads/abc", "DELETE, GET"),
        ("POST", "/api-keys/abc", "DELETE"),
        ("OPTIONS", "/api-keys", "GET, POST"),
    ],
)
def test_405_lists_the_methods_of_the_named_resource(
    live: LiveServer, key: str, method: str, path: str, allow: str
) -> None:
    with client(live, key) as http:
        answer = http.request(method, path)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allow
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert answer.headers["x-request-id"] == answer.json()["request_id"]


def test_docs_page_and_assets_come_from_the_server(live: LiveServer) -> None:
    page = httpx.get(f"{live.base_url}/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    set_up = httpx.get(f"{live.base_url}/docs/init.js")  # (a file: the page runs nothing inline)
    assert "SwaggerUIBundle" in set_up.text and "openapi.json" in set_up.text
    assert not re.search(r"https?://", page.text)  # no CDN: the page works offline
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        loaded = httpx.get(f"{live.root_url}{asset}")
        assert loaded.status_code == 200 and len(loaded.content) > 100, asset


# --- §4 date-times and list bounds ---


def test_naive_expires_at_is_utc_and_numbers_are_refused(live: LiveServer) -> None:
    admin = make_key(live.settings, admin=True)
    with client(live, admin) as http:
        created = http.post(
            "/api-keys", json={"name": "naive", "expires_at": "2099-01-01T12:00:00"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["expires_at"].startswith("2099-01-01T12:00:00")
        assert created.json()["expires_at"].endswith(("Z", "+00:00"))
        number = http.post("/api-keys", json={"name": "n", "expires_at": 4102444800})
        assert number.status_code == 422 and "ISO 8601" in number.json()["error"]["message"]


def test_list_dates_naive_and_numbers(live: LiveServer, key: str) -> None:
    with client(live, key) as http:
        upload(http, png("dates"))
        naive = http.get("/files", params={"date_from": "2000-01-01T00:00:00"})
        assert naive.status_code == 200 and naive.json()["total_count"] == 1
        future = http.get("/files", params={"date_from": "2999-01-01T00:00:00"})
        assert future.status_code == 200 and future.json()["total_count"] == 0
        for bad in ("0.5", "1700000000"):
            refused = http.get("/files", params={"date_to": bad})
            assert refused.status_code == 422, bad
            assert "date_to" in refused.json()["error"]["message"]


def test_list_filters_are_bounded_with_a_clear_422(live: LiveServer, key: str) -> None:
    with client(live, key) as http:
        many_tags = http.get("/files", params=[("tags", f"t{i}") for i in range(996)])
        assert many_tags.status_code == 422
        assert "tags" in many_tags.json()["error"]["message"]
        comma_tags = http.get("/files", params={"tags": ",".join(f"t{i}" for i in range(996))})
        assert comma_tags.status_code == 422 and "at most 50" in comma_tags.text
        ids = ",".join(f"00000000-0000-0000-0000-{i:012d}" for i in range(501))
        assert http.get("/files", params={"ids": ids}).status_code == 422
        fifty = http.get("/files", params=[("tags", f"t{i}") for i in range(50)])
        assert fifty.status_code == 200  # the bound itself is a valid query


# --- §6 the hosted API's shapes ---


def test_api_keys_take_scopes_metadata_and_description(live: LiveServer) -> None:
    admin = make_key(live.settings, admin=True)
    with client(live, admin) as http:
        created = http.post(
            "/api-keys",
            json={
                "name": "reader",
                "description": "dashboards",
                "scopes": ["read"],
                "metadata": {"team": "ops", "n": 3},
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["scopes"] == ["read"] and body["metadata"] == {"team": "ops", "n": 3}
        assert body["description"] == "dashboards"
        listed = http.get("/api-keys").json()["items"]
        mine = next(item for item in listed if item["id"] == body["id"])
        assert mine["scopes"] == ["read"] and mine["metadata"] == {"team": "ops", "n": 3}
        unknown = http.post("/api-keys", json={"name": "x", "scopes": ["root"]})
        assert unknown.status_code == 422
    with client(live, body["api_key"]) as reader:
        assert reader.get("/files").status_code == 200
        refused = reader.post("/files/upload", files={"file": ("a.png", png())})
        assert refused.status_code == 403 and "write" in refused.json()["error"]["message"]


def test_delete_message_and_batch_delete_statuses_and_summary(live: LiveServer, key: str) -> None:
    with client(live, key) as http:
        first = str(upload(http, png("one"))["image_id"])
        second = str(upload(http, png("two"))["image_id"])
        deleted = http.delete(f"/files/{first}")
        assert deleted.status_code == 200
        assert deleted.json()["message"] == "File deleted successfully"
        missing = "00000000-0000-0000-0000-000000000001"
        batch = http.post("/files/batch-delete", json={"file_ids": [first, second, missing]})
        assert batch.status_code == 200, batch.text
        body = batch.json()
        assert [(i["id"], i["status"]) for i in body["deleted"]] == [(second, "deleted")]
        assert [(i["id"], i["status"]) for i in body["skipped"]] == [(first, "skipped")]
        assert [(i["id"], i["status"]) for i in body["failed"]] == [(missing, "failed")]
        assert body["summary"] == {"total": 3, "deleted": 1, "skipped": 1, "failed": 1}


def test_analyze_describes_a_duplicate_again_under_its_new_category(live: LiveServer) -> None:
    key = make_key(live.settings)
    data = png("category")
    with client(live, key) as http:
        first = http.post("/images/analyze", files={"file": ("c.png", data)}, data={"timeout": "0"})
        assert first.status_code == 202, first.text
        file_id = first.json()["id"]
        assert first.json()["content_category"] == "general"
        again = http.post(
            "/images/analyze",
            files={"file": ("c.png", data)},
            data={"timeout": "0", "skip_duplicates": "true", "content_category": "screenshot"},
        )
        assert again.status_code in (200, 202), again.text
        assert again.json()["id"] == file_id
        assert again.json()["content_category"] == "screenshot"
        assert http.get(f"/files/{file_id}").json()["content_category"] == "screenshot"


# --- §7 a configured model that cannot be reached ---


@pytest.fixture
def unreachable_model(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path,
        workers=1,
        ocr_enabled=False,
        description_providers="basic,openai",
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        openai_api_key="sk-test",
        job_max_attempts=1,
        job_retry_delay_seconds=0,
        job_poll_seconds=0.2,
    )
    server = start_server(settings)
    yield server
    server.stop()


def test_status_names_the_provider_that_failed(unreachable_model: LiveServer) -> None:
    live = unreachable_model
    key = make_key(live.settings)
    with client(live, key) as http:
        file_id = str(upload(http, png("fallback"))["image_id"])
        deadline = time.monotonic() + 60
        status = http.get(f"/files/{file_id}/status").json()
        while not status["is_terminal"] and time.monotonic() < deadline:
            time.sleep(0.2)
            status = http.get(f"/files/{file_id}/status").json()
        assert status["description_status"] == "completed", status
        errors = status["provider_errors"]
        assert [e["provider"] for e in errors] == ["openai"], errors
        assert errors[0]["message"]
        details = http.get(f"/files/{file_id}").json()
        assert details["analysis_level"] == "basic"
        assert details["provider_errors"] == errors


# --- multipart form values: exactly what the OpenAPI document allows ---


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"skip_duplicates": "on"}, True),
        ({"skip_duplicates": "0"}, True),
        ({"skip_duplicates": "TRUE"}, False),  # (documented values are lowercase)
        ({"auto_describe": "maybe"}, False),
        ({"skip_duplicates": ""}, True),  # (empty: not given, as HTML forms send it)
        ({"skip_duplicates": " false\t"}, True),
        ({"storage_target": ""}, True),
        ({"storage_target": "elsewhere"}, False),
        ({"content_category": " product_photo "}, True),
        ({"content_category": "auto"}, False),  # (analyze only)
        ({"folder_id": " 0b1e2a52-51c4-4c35-9a2c-0123456789ab "}, True),
        ({"folder_id": ""}, True),  # (empty: not given)
        ({"folder_id": "0b1e2a5251c44c359a2c0123456789ab"}, False),  # (no hyphens)
        ({"folder_id": "{0b1e2a52-51c4-4c35-9a2c-0123456789ab}"}, False),
        ({"project_id": "\u0084"}, False),  # (an invisible character is not "empty")
    ],
)
def test_form_values_match_the_documented_schema(
    live: LiveServer, fields: dict[str, str], accepted: bool
) -> None:
    with client(live, make_key(live.settings)) as http:
        answer = http.post("/files/upload", files={"file": ("a.png", png())}, data=fields)
    assert answer.status_code == (201 if accepted else 422), answer.text
    schema = httpx.get(f"{live.base_url}/openapi.json").json()
    form = schema["paths"]["/api/v2/files/upload"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]["schema"]["properties"]
    for name, value in fields.items():
        prop = form[name]
        valid = value in prop["enum"] if "enum" in prop else bool(re.match(prop["pattern"], value))
        assert valid == accepted, (name, value, prop)


def test_json_booleans_are_true_or_false_only(live: LiveServer) -> None:
    """0, 1 or "yes" where a JSON boolean belongs are refused (422), never read as one: an
    "admin": 0 once made a key (as a non-admin), to the client's surprise either way."""
    admin = make_key(live.settings, admin=True)
    with client(live, admin) as http:
        for body, path in (
            ({"name": "k", "admin": 0}, "/api-keys"),
            ({"name": "k", "admin": "yes"}, "/api-keys"),
            ({"use_all_images": 1}, "/chat/sessions"),
        ):
            answer = http.post(path, json=body)
            assert answer.status_code == 422, (path, answer.text)
        assert http.post("/api-keys", json={"name": "k", "admin": False}).status_code == 201
