"""Shared fixtures: a clean environment and clients over httpx.MockTransport."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scopix import ClientConfig, Scopix
from sdk_support import BASE_URL, VALID_KEY, Handler, Recorder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_scopix_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees SCOPIX_* variables from the machine it runs on."""
    for name in list(os.environ):
        if name.startswith("SCOPIX_"):
            monkeypatch.delenv(name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(recorder: Recorder) -> Callable[..., Scopix]:
    """``make_client(handler, **config)``: a Scopix over a MockTransport that does not sleep."""

    def build(handler: Handler, **config: Any) -> Scopix:
        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            recorder.requests.append(request)
            return handler(request)

        options = {"api_key": VALID_KEY, "base_url": BASE_URL, **config}
        client = Scopix.from_config(ClientConfig(**options), transport=httpx.MockTransport(record))
        client._core.sleep = recorder.sleep
        return client

    return build
