"""Fixtures: a live server (real socket, real SQLite, real folder storage) and API keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scopix_server import Settings
from server_support import LiveServer, make_key, start_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("SCOPIX_", "SCOPIX_SERVER_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests that do not need special settings (each uses its own tenant)."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("scopix-data")))
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def key(live: LiveServer) -> str:
    return make_key(live.settings)
