"""Idempotency-Key on every POST: replayed answers, conflicts, and key creation never repeated."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server_support import GIF_1X1, LiveServer, make_key


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(live.settings, admin=True)
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def upload(api: httpx.Client) -> str:
    response = api.post("/files/upload", files={"file": ("g.gif", GIF_1X1)})
    return str(response.json()["image_id"])


def test_batch_delete_is_replayed(admin: httpx.Client) -> None:
    file_id = upload(admin)
    headers = {"Idempotency-Key": "delete-1"}
    first = admin.post("/files/batch-delete", json={"file_ids": [file_id]}, headers=headers)
    again = admin.post("/files/batch-delete", json={"file_ids": [file_id]}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # not "already deleted": the first answer, replayed
    assert [d["id"] for d in again.json()["deleted"]] == [file_id]
    other = admin.post("/files/batch-delete", json={"file_ids": [upload(admin)]}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "CONFLICT"


def test_session_cancel_is_replayed(admin: httpx.Client) -> None:
    batch = admin.post("/files/upload/batch", files=[("files", ("a.gif", GIF_1X1))]).json()
    url = batch["status_url"].removeprefix("/api/v2") + "/cancel"
    first = admin.post(url, headers={"Idempotency-Key": "cancel-1"})
    again = admin.post(url, headers={"Idempotency-Key": "cancel-1"})
    assert first.status_code == 200 and again.json() == first.json()


def test_key_creation_is_never_repeated(admin: httpx.Client) -> None:
    before = admin.get("/api-keys").json()["total_count"]
    headers = {"Idempotency-Key": "new-key-1"}
    created = admin.post("/api-keys", json={"name": "uploader"}, headers=headers)
    assert created.status_code == 201 and created.json()["api_key"].startswith("scopix_")
    repeated = admin.post("/api-keys", json={"name": "uploader"}, headers=headers)
    assert repeated.status_code == 409
    assert "GET /api-keys" in repeated.json()["error"]["message"]
    assert created.json()["api_key"] not in repeated.text  # the secret is never sent twice
    assert admin.get("/api-keys").json()["total_count"] == before + 1


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon"])
def test_malformed_keys_are_refused(admin: httpx.Client, bad: str) -> None:
    response = admin.post(
        "/files/batch-delete", json={"file_ids": [upload(admin)]}, headers={"Idempotency-Key": bad}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["message"]
