"""Helpers shared by the SDK tests (importable as ``sdk_support``; see pytest ``pythonpath``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

VALID_KEY = "scopix_Ab12CdEf_" + "s3cr3t" * 6  # the server's shape: scopix_<8>_<32+>
BASE_URL = "https://api.test/api/v2"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Records the requests a MockTransport saw and the delays the client slept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}, "request_id": "req_x"}
