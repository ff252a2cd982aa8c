"""Fixtures: a live server (real socket, real SQLite, real folder storage) and API keys.

``pytest --backends scaled`` runs the same tests with every server on PostgreSQL (pgvector),
an S3 server (``rclone serve s3``) and Procrastinate: each test gets a database of its own
(copied from one migrated template) and a bucket of its own, through the environment, so that
in-process servers, subprocesses and CLI calls alike use them. Tests marked ``embedded`` (they
read the SQLite file or the storage folder themselves) are deselected there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import server_support
from scopix_server import Settings
from server_support import LiveServer, ScaledBackends, make_key, start_server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        choices=("embedded", "scaled"),
        default="embedded",
        help="embedded (default): SQLite, a storage folder and the embedded queue; scaled: "
        "PostgreSQL, S3 and Procrastinate for every server the tests start",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--backends") != "scaled":
        return
    kept = [item for item in items if item.get_closest_marker("embedded") is None]
    dropped = [item for item in items if item.get_closest_marker("embedded") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def scaled_backends(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScaledBackends | None]:
    if request.config.getoption("--backends") != "scaled":
        yield None
        return
    backends = ScaledBackends.start(tmp_path_factory.mktemp("s3"))
    server_support.SCALED = backends
    try:
        yield backends
    finally:
        server_support.SCALED = None
        backends.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _environment(settings: dict[str, str]) -> dict[str, str]:
    return {f"SCOPIX_SERVER_{name.upper()}": value for name, value in settings.items()}


@pytest.fixture(scope="module", autouse=True)
def _scaled_module(scaled_backends: ScaledBackends | None) -> Iterator[None]:
    """The module's own fixtures (servers shared by its tests) get a database and a bucket."""
    if scaled_backends is None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _environment(scaled_backends.fresh()).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(autouse=True)
def _no_ambient_config(
    monkeypatch: pytest.MonkeyPatch, scaled_backends: ScaledBackends | None
) -> None:
    for name in list(os.environ):
        if name.startswith(("SCOPIX_", "SCOPIX_SERVER_")):
            monkeypatch.delenv(name)
    if scaled_backends is not None:  # (a fresh database and bucket for each test)
        for name, value in _environment(scaled_backends.fresh()).items():
            monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory, scaled_backends: ScaledBackends | None
) -> Iterator[LiveServer]:
    """One server for the tests that do not need special settings (each uses its own tenant).

    It serves the API only (``workers=0``): its files stay queued, so that tests of the API
    see stable states. The pipeline's tests start servers with workers.
    """
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("scopix-data")),
        workers=0,
        **(scaled_backends.fresh() if scaled_backends else {}),  # type: ignore[arg-type]
    )
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def key(live: LiveServer) -> str:
    return make_key(live.settings)
