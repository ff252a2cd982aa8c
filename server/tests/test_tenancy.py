"""Tenant isolation: nothing of tenant A is visible to, or changeable by, tenant B."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server_support import LiveServer, make_key, png_bytes


def tenant_client(live: LiveServer) -> httpx.Client:
    key = make_key(live.settings)
    return httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def two_tenants(live: LiveServer) -> Iterator[tuple[httpx.Client, httpx.Client, str, bytes]]:
    data = png_bytes(9, 9, (10, 200, 30))
    with tenant_client(live) as a, tenant_client(live) as b:
        created = a.post(
            "/files/upload", files={"file": ("secret.png", data)}, data={"tags": "private"}
        )
        assert created.status_code == 201
        yield a, b, created.json()["image_id"], data


def test_b_cannot_read_change_or_delete_a_file(two_tenants) -> None:
    a, b, file_id, _ = two_tenants
    for method, path, kwargs in [
        ("GET", f"/files/{file_id}", {}),
        ("GET", f"/files/{file_id}/status", {}),
        ("GET", f"/files/{file_id}/download", {}),
        ("GET", f"/files/{file_id}/variants/original", {}),
        ("PATCH", f"/files/{file_id}", {"json": {"title": "mine now"}}),
        ("DELETE", f"/files/{file_id}", {}),
    ]:
        response = b.request(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    # the file is untouched for its owner
    owned = a.get(f"/files/{file_id}").json()
    assert owned["title"] is None and owned["tags"] == ["private"]


def test_b_cannot_list_or_find_a_files(two_tenants) -> None:
    a, b, file_id, _ = two_tenants
    assert b.get("/files").json()["total_count"] == 0
    assert b.get("/files", params={"ids": file_id}).json()["items"] == []
    assert b.get("/files", params={"search": "secret"}).json()["items"] == []
    assert b.get("/files", params={"tags": "private"}).json()["items"] == []
    assert a.get("/files", params={"ids": file_id}).json()["total_count"] == 1


def test_b_batch_delete_of_a_files_fails(two_tenants) -> None:
    a, b, file_id, _ = two_tenants
    result = b.post("/files/batch-delete", json={"file_ids": [file_id]}).json()
    assert result["deleted"] == [] and result["failed"][0]["id"] == file_id
    assert a.get(f"/files/{file_id}").status_code == 200


def test_dedup_never_crosses_tenants(two_tenants) -> None:
    _, b, file_id, data = two_tenants
    response = b.post(
        "/files/upload", files={"file": ("copy.png", data)}, data={"skip_duplicates": "true"}
    )
    body = response.json()
    assert response.status_code == 201
    assert body["skipped"] is False and body["image_id"] != file_id
    assert body["object_key"].split("/")[0] != ""  # stored under B's own prefix


def test_guessed_and_malformed_ids_look_missing(two_tenants) -> None:
    _, b, _, _ = two_tenants
    for guess in ("00000000-0000-0000-0000-000000000000", "1", "../../etc/passwd", "%00"):
        response = b.get(f"/files/{guess}")
        assert response.status_code == 404, guess
