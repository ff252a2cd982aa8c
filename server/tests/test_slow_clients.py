"""Clients that send slowly or too much at once: stalled bodies are cut off (408), one address
holds a bounded number of bodies (429 beyond), and `serve` closes header-only connections."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scopix_server import Settings
from scopix_server.guards import MAX_TARGET_BYTES
from server_support import LiveServer, free_port, make_key, serve_process, start_server

pytestmark = pytest.mark.socket


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("strict"),
        workers=0,
        body_idle_timeout_seconds=1.0,
        max_uploads_per_client=3,
    )
    server = start_server(settings)
    yield server
    server.stop()


def _port(server: LiveServer) -> int:
    return int(server.root_url.rsplit(":", 1)[1])


def _stalled_upload(server: LiveServer, key: str) -> socket.socket:
    """An upload that announces 100 kB, sends the start of it, then nothing more."""
    connection = socket.create_connection(("127.0.0.1", _port(server)), timeout=10)
    head = (
        "POST /api/v2/files/upload HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        "Content-Length: 100000\r\n\r\n"
        '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    )
    connection.sendall(head.encode() + os.urandom(1000))
    return connection


def _answer(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_a_stalled_body_is_cut_off(strict: LiveServer) -> None:
    key = make_key(strict.settings)
    connection = _stalled_upload(strict, key)
    started = time.monotonic()
    try:
        answer = _answer(connection)
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 10
    # nothing was kept, and the key's upload slot is free again
    with httpx.Client(base_url=strict.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        assert api.get("/files").json()["total_count"] == 0
        assert api.post("/files/upload", files={"file": ("ok.txt", b"fine")}).status_code == 201


def test_one_address_sends_a_bounded_number_of_bodies(strict: LiveServer) -> None:
    key = make_key(strict.settings)
    held = [_stalled_upload(strict, key) for _ in range(3)]
    try:
        time.sleep(0.2)  # (all three are being read)
        with httpx.Client(
            base_url=strict.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as api:
            refused = api.post("/files/upload", files={"file": ("x.txt", b"x")})
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "RATE_LIMITED"
            assert refused.headers["retry-after"]
            assert api.get("/files").status_code == 200  # (requests without a body go on)
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=strict.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        while True:  # once they are cut off, the address may send again
            answer = api.post("/files/upload", files={"file": ("y.txt", b"y")})
            if answer.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert answer.status_code == 201, answer.text


def test_serve_closes_connections_that_never_finish_their_headers(tmp_path: Path) -> None:
    port = free_port()
    with serve_process(tmp_path / "d", port, SCOPIX_SERVER_HEADER_TIMEOUT_SECONDS="1"):
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        partial = socket.create_connection(("127.0.0.1", port), timeout=10)
        partial.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        assert partial.recv(100) == b""  # closed by the server
        assert idle.recv(100) == b""
        assert time.monotonic() - started < 8
        idle.close()
        partial.close()
        # a normal client on a kept-alive connection is not affected by the deadline
        with httpx.Client() as client:
            for _ in range(3):
                assert client.get(f"http://127.0.0.1:{port}/ready").status_code == 200
                time.sleep(0.6)


def _get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        connection.sendall(head.encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_serve_answers_an_over_long_request_target_with_414_in_the_error_body(
    tmp_path: Path,
) -> None:
    port = free_port()
    ids = "&".join(f"ids={uuid.uuid4()}" for _ in range(1600))  # 66 KB of query
    with serve_process(tmp_path / "d", port):
        under = _get(port, "/api/v2/files?" + ids[: MAX_TARGET_BYTES - 20])
        assert under.startswith(b"HTTP/1.1 401"), under[:200]  # parsed, then asks for a key
        over = _get(port, "/api/v2/files?" + ids)
        assert over.startswith(b"HTTP/1.1 414"), over[:200]
        head, body = over.split(b"\r\n\r\n", 1)
        assert b"content-type: application/json" in head
        answer = json.loads(body)
        assert f"x-request-id: {answer['request_id']}".encode() in head
        error = answer["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"] == {"max_target_bytes": MAX_TARGET_BYTES}
        assert "send fewer values per request" in error["message"]
        # the server goes on for everyone else
        assert httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200


def _stalled_read(server: LiveServer, target: str, key: str | None = None) -> socket.socket:
    """A GET whose answer is never read: the server's send buffer fills and its writes wait."""
    connection = socket.create_connection(("127.0.0.1", _port(server)), timeout=10)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    connection.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
    return connection


def _answered_at_once(server: LiveServer, key: str) -> None:
    """Requests that need the database are answered promptly (not after a pool timeout)."""
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        for _ in range(3):
            started = time.monotonic()
            listed = api.get("/files")
            assert listed.status_code == 200, listed.text
            assert time.monotonic() - started < 5


def test_readers_that_stall_hold_no_database_connection(strict: LiveServer) -> None:
    """Twenty downloads that are never read (ten through the API, ten through signed links,
    which need no key): the database's pool (15 connections) is not theirs to hold, so another
    tenant's requests are answered at once and not after a pool timeout."""
    key = make_key(strict.settings)
    with httpx.Client(
        base_url=strict.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        big = b"\x89PNG\r\n\x1a\n" + os.urandom(24 * 1024 * 1024)  # (stored, never decoded)
        sent = api.post("/files/upload", files={"file": ("big.png", big)})
        assert sent.status_code == 201, sent.text
        file_id = sent.json()["image_id"]
        signed = api.get(f"/files/{file_id}").json()["original_url"]
        assert signed
    stalled = [
        _stalled_read(strict, f"/api/v2/files/{file_id}/download", key) for _ in range(10)
    ] + [_stalled_read(strict, httpx.URL(signed).raw_path.decode()) for _ in range(10)]
    try:
        time.sleep(1.0)  # (every download has started and filled its socket)
        _answered_at_once(strict, make_key(strict.settings, f"other-{uuid.uuid4().hex[:8]}"))
    finally:
        for connection in stalled:
            connection.close()


@pytest.mark.embedded  # (parts come to this server only with local staging; S3 takes them there)
def test_part_uploads_that_stall_hold_no_database_connection(live: LiveServer) -> None:
    """Eighteen PUTs of direct-upload parts that send a few bytes and stall (signed part URLs
    need no key): their bodies wait without a database connection, so other requests go on."""
    key = make_key(live.settings, f"parts-{uuid.uuid4().hex[:8]}")
    with httpx.Client(
        base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        started = api.post(
            "/files/direct-uploads",
            json={"filename": "big.png", "size_bytes": 100 * 1024 * 1024, "part_size": 5242880},
        )
        assert started.status_code == 201, started.text
        parts = started.json()["parts"]
    stalled = []
    for part in parts[:18]:
        url = httpx.URL(part["upload_url"])
        connection = socket.create_connection(("127.0.0.1", _port(live)), timeout=10)
        connection.sendall(
            f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Length: 5242880\r\n\r\n".encode()
            + b"\x89PNG"
        )
        stalled.append(connection)
    try:
        time.sleep(1.0)
        _answered_at_once(live, key)
    finally:
        for connection in stalled:
            connection.close()
