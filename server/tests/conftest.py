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
    """One server for the tests that do not need special settings (each uses its own tenant).

    It serves the API only (``workers=0``): its files stay queued, so that tests of the API
    see stable states. The pipeline's tests start servers with workers.
    """
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("scopix-data")), workers=0)
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def key(live: LiveServer) -> str:
    return make_key(live.settings)
