"""Key management (CLI and /api-keys), health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from scopix_server.cli import main
from server_support import LiveServer, make_key


def client(live: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"})


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    created = runner.invoke(
        main, ["keys", "create", "--data-dir", data_dir, "--tenant", "acme", "--tier", "starter"]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("scopix_") and len(key) >= len("scopix_") + 8 + 1 + 32
    assert "cannot be shown again" in created.stderr
    listed = runner.invoke(main, ["keys", "list", "--data-dir", data_dir])
    prefix = key[: len("scopix_") + 8]
    assert prefix in listed.stdout and "acme" in listed.stdout and "starter" in listed.stdout
    assert key not in listed.stdout  # the secret is never shown again
    revoked = runner.invoke(main, ["keys", "revoke", "--data-dir", data_dir, prefix])
    assert revoked.exit_code == 0 and f"revoked {prefix}" in revoked.stdout
    assert "revoked" in runner.invoke(main, ["keys", "list", "--data-dir", data_dir]).stdout
    missing = runner.invoke(main, ["keys", "revoke", "--data-dir", data_dir, "scopix_nothere1"])
    assert missing.exit_code == 1 and "no API key" in missing.stderr


def test_cli_refuses_an_unknown_tier(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--data-dir", str(tmp_path), "--tenant", "x", "--tier", "gold"]
    )
    assert result.exit_code == 2 and "gold" in result.output


@pytest.mark.embedded
def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--data-dir", str(tmp_path), "--tenant", "t"])
    key = created.stdout.strip()
    database = (tmp_path / "scopix.db").read_bytes()
    secret = key.split("_", 2)[2]
    assert secret.encode() not in database and key.encode() not in database


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with client(live, make_key(live.settings, admin=True)) as c:
        yield c


def test_api_keys_routes_for_admins(live: LiveServer, admin: httpx.Client) -> None:
    created = admin.post("/api-keys", json={"name": "ci uploader"})
    assert created.status_code == 201
    body = created.json()
    new_key = body["api_key"]
    assert body["key_prefix"] == new_key[: len("scopix_") + 8] and body["is_active"]
    with client(live, new_key) as uploader:
        assert uploader.get("/files").status_code == 200
        assert uploader.get("/api-keys").status_code == 403  # not an admin key
    listed = admin.get("/api-keys").json()
    assert body["id"] in [item["id"] for item in listed["items"]]
    assert all("api_key" not in item for item in listed["items"])
    revoked = admin.delete(f"/api-keys/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    with client(live, new_key) as uploader:
        response = uploader.get("/files")
        assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_ERROR"
    assert admin.delete("/api-keys/00000000-0000-0000-0000-000000000000").status_code == 404


def test_expired_keys_are_refused(live: LiveServer, admin: httpx.Client) -> None:
    past = admin.post("/api-keys", json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422


def test_admins_cannot_touch_other_tenants_keys(live: LiveServer, admin: httpx.Client) -> None:
    with client(live, make_key(live.settings, admin=True)) as other_admin:
        foreign = other_admin.post("/api-keys", json={"name": "theirs"}).json()
    assert admin.delete(f"/api-keys/{foreign['id']}").status_code == 404


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-key", "scopix_abc", "Bearer " + "x" * 5000],
)
def test_malformed_authorization(live: LiveServer, header: str) -> None:
    with httpx.Client(base_url=live.base_url) as anonymous:
        response = anonymous.get("/files", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTH_ERROR"


def test_health_ready_metrics(live: LiveServer) -> None:
    with httpx.Client(base_url=live.root_url) as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        assert anonymous.get("/api/v2/health").status_code == 200
        ready = anonymous.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}
        metrics = anonymous.get("/metrics")
        assert metrics.status_code == 200
        assert "scopix_http_requests_total" in metrics.text
        assert 'route="/health"' in metrics.text


def test_openapi_document(live: LiveServer) -> None:
    with httpx.Client(base_url=live.root_url) as anonymous:
        spec = anonymous.get("/api/v2/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v2/files/upload",
        "/api/v2/files",
        "/api/v2/files/{file_id}",
        "/api/v2/files/{file_id}/status",
        "/api/v2/files/{file_id}/download",
        "/api/v2/files/batch-delete",
        "/api/v2/uploads/quota-check",
        "/api/v2/api-keys",
    ):
        assert path in paths, path
    upload = paths["/api/v2/files/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_failed_authentications_are_limited_per_address(tmp_path: Path) -> None:
    from scopix_server import Settings
    from server_support import start_server

    server = start_server(Settings(data_dir=tmp_path, auth_failures_per_minute=5))
    try:
        good = make_key(server.settings)
        with httpx.Client(base_url=server.base_url) as anonymous:
            statuses = [
                anonymous.get("/files", headers={"Authorization": "Bearer scopix_nope"}).status_code
                for _ in range(6)
            ]
            assert statuses == [401] * 5 + [429]
            limited = anonymous.get("/files")
            assert limited.status_code == 429 and "Retry-After" in limited.headers
            # a valid key is not held back by the failures of others
            ok = anonymous.get("/files", headers={"Authorization": f"Bearer {good}"})
            assert ok.status_code == 200
    finally:
        server.stop()


def test_api_keys_are_paged(admin: httpx.Client) -> None:
    for i in range(3):
        assert admin.post("/api-keys", json={"name": f"k{i}"}).status_code == 201
    first = admin.get("/api-keys", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["total_count"] == 4 and first["has_more"] is True
    rest = admin.get("/api-keys", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 2 and rest["has_more"] is False
    names = [k["name"] for k in first["items"] + rest["items"]]
    assert names[1:] == ["k0", "k1", "k2"]  # oldest first, the admin key itself first
