"""A tour of the scopix SDK core against a local stand-in of the Scopix API.

Run it with ``scripts/demo`` (or ``python examples/quickstart.py``). It starts a tiny HTTP server on
127.0.0.1 that speaks the API contract for a few routes and misbehaves on purpose, then shows:

1. configuration from the environment (``Scopix.from_env``), with the key never printed;
2. a quota check that survives two 503 answers through retries with doubling delays;
3. a 429 whose ``Retry-After`` the client honours;
4. API errors arriving as typed exceptions with their request id;
5. the circuit breaker failing fast once a host keeps failing;
6. the same calls through the blocking ``SyncScopix``.

The real server (``scopix-server``) replaces the stand-in in a later step of the project.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from scopix import (
    CircuitBreakerError,
    ClientConfig,
    QuotaInfo,
    ResourceNotFoundError,
    Scopix,
    ScopixConnectionError,
    SyncScopix,
)

DEMO_KEY = "scopix_Demo1234_" + uuid.uuid4().hex


class StandIn(BaseHTTPRequestHandler):
    """Answers like the API for /uploads/quota-check and /files/{id}, with scripted hiccups."""

    hiccups: ClassVar[dict[str, list[tuple[int, dict[str, str]]]]] = {}
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        request_id = self.headers.get("X-Request-ID", "srv_" + uuid.uuid4().hex[:8])
        if self.headers.get("Authorization") != f"Bearer {DEMO_KEY}":
            return self.error(401, "AUTH_ERROR", "Unknown API key", request_id)
        path = self.path.split("?")[0].removeprefix("/api/v2")
        with self.lock:
            queue = self.hiccups.get(path, [])
            hiccup = queue.pop(0) if queue else None
        if hiccup is not None:
            status, headers = hiccup
            code = "RATE_LIMITED" if status == 429 else "SERVICE_UNAVAILABLE"
            return self.error(status, code, "temporarily unavailable", request_id, headers)
        if path == "/uploads/quota-check":
            return self.send_json(
                200,
                {
                    "can_proceed": True,
                    "requested": 3,
                    "available": 497,
                    "monthly_limit": 500,
                    "current_usage": 3,
                    "message": "Within your monthly quota",
                    "max_batch_size": 50,
                    "prepaid_credits": 0,
                    "max_concurrent_uploads": 20,
                },
                request_id,
            )
        if path.startswith("/files/"):
            file_id = path.removeprefix("/files/")
            return self.error(
                404,
                "NOT_FOUND",
                f"File {file_id} not found",
                request_id,
                details={"resource_type": "file", "resource_id": file_id},
            )
        return self.error(404, "NOT_FOUND", f"No route {path}", request_id)

    def error(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        body = {
            "error": {"code": code, "message": message, "details": details or {}},
            "request_id": request_id,
        }
        self.send_json(status, body, request_id, headers)

    def send_json(
        self, status: int, body: Any, request_id: str, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-ID", request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def start_stand_in() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/api/v2"


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/api/v2"


def heading(text: str) -> None:
    print(f"\n== {text}")


async def tour(base_url: str) -> None:
    heading("1. Configuration from SCOPIX_* environment variables")
    os.environ.update(
        {"SCOPIX_API_KEY": DEMO_KEY, "SCOPIX_BASE_URL": base_url, "SCOPIX_RETRY_DELAY": "0.25"}
    )
    async with Scopix.from_env() as client:
        print(f"client: {client!r}")
        print(
            f"timeout={client.config.timeout}s max_retries={client.config.max_retries} "
            f"retry_delay={client.config.retry_delay}s"
        )

        heading("2. Two 503 answers, then success: retried with doubling delays")
        StandIn.hiccups["/uploads/quota-check"] = [(503, {}), (503, {})]
        started = time.monotonic()
        response = await client.request("GET", "/uploads/quota-check", params={"file_count": 3})
        quota = QuotaInfo.from_api_response(response.json())
        print(
            f"after {time.monotonic() - started:.2f}s: can_proceed={quota.can_proceed} "
            f"available={quota.available}/{quota.monthly_limit} "
            f"max_batch_size={quota.max_batch_size}"
        )

        heading("3. A 429 with Retry-After: 1 (the server's pause wins over the backoff)")
        StandIn.hiccups["/uploads/quota-check"] = [(429, {"Retry-After": "1"})]
        started = time.monotonic()
        await client.request("GET", "/uploads/quota-check", params={"file_count": 1})
        print(f"answered after {time.monotonic() - started:.2f}s")

        heading("4. API errors are typed exceptions")
        try:
            await client.request("GET", "/files/0b6f3c1e-missing")
        except ResourceNotFoundError as error:
            print(f"{type(error).__name__}: {error}")
            print(f"  resource_type={error.resource_type} resource_id={error.resource_id}")

    heading("5. A host that is down: retries, then the circuit breaker fails fast")
    config = ClientConfig(
        api_key=DEMO_KEY,
        base_url=closed_port_url(),
        max_retries=1,
        retry_delay=0.05,
        circuit_breaker_failure_threshold=3,
    )
    async with Scopix.from_config(config) as down:
        for attempt in range(1, 4):
            try:
                await down.request("GET", "/uploads/quota-check", params={"file_count": 1})
            except CircuitBreakerError as error:
                print(f"call {attempt}: {type(error).__name__}: {error.message}")
            except ScopixConnectionError as error:
                print(
                    f"call {attempt}: {type(error).__name__} after retries: "
                    f"{error.message.split(': ', 1)[-1]}"
                )


def sync_tour(base_url: str) -> None:
    heading("6. The same client without async: SyncScopix")
    with SyncScopix(DEMO_KEY, base_url=base_url, retry_delay=0.1) as client:
        StandIn.hiccups["/uploads/quota-check"] = [(503, {})]
        body = client.request("GET", "/uploads/quota-check", params={"file_count": 1}).json()
        print(f"SyncScopix quota check: available={body['available']}")


def main() -> None:
    logging.basicConfig(  # on stdout, so that log lines interleave with the prints in order
        level=logging.WARNING,
        format="   [log] %(name)s %(levelname)s: %(message)s",
        stream=sys.stdout,
    )
    base_url = start_stand_in()
    print(f"Local stand-in of the Scopix API listening on {base_url}")
    asyncio.run(tour(base_url))
    sync_tour(base_url)
    print("\nDone: every call above went through a real socket.")


if __name__ == "__main__":
    main()
