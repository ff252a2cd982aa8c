"""Helpers for the server tests: a live server on a loopback socket, keys, test files."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from scopix_server import Settings, create_app
from scopix_server.db.migrate import upgrade
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.services.tenants import create_key, get_or_create_tenant


@dataclass
class LiveServer:
    settings: Settings
    base_url: str  # .../api/v2
    root_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_server(settings: Settings) -> LiveServer:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    root = f"http://127.0.0.1:{port}"
    return LiveServer(settings, f"{root}/api/v2", root, server, thread)


@contextmanager
def serving(data_dir: Path, **settings: Any) -> Iterator[LiveServer]:
    """A live server with one worker and the basic describer (and ``settings``), stopped after."""
    server = start_server(
        Settings(data_dir=data_dir, workers=1, description_providers="basic", **settings)
    )
    try:
        yield server
    finally:
        server.stop()


def make_key(
    settings: Settings, tenant: str | None = None, *, tier: str | None = None, admin: bool = False
) -> str:
    """A new key for ``tenant`` (a fresh tenant by default)."""

    async def run() -> str:
        engine = create_engine(settings.resolved_database_url)
        try:
            await upgrade(engine)
            async with create_sessionmaker(engine)() as session:
                row = await get_or_create_tenant(
                    session,
                    tenant or f"t-{uuid.uuid4().hex[:12]}",
                    tier=tier,
                    default_tier=settings.default_tier,
                )
                created = await create_key(session, row, name="test", admin=admin)
                await session.commit()
                return created.key
        finally:
            await engine.dispose()

    # its own thread and loop, so that async tests can call it too
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def png_bytes(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A valid PNG made here (no third-party media)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56


def stored_objects(settings: Settings) -> list[Path]:
    """Stored originals (what the pipeline derives from them lives apart, under derived/)."""
    root = settings.data_dir / "storage" / "objects"
    if not root.exists():
        return []
    return [
        p for p in root.rglob("*") if p.is_file() and "derived" not in p.relative_to(root).parts[:1]
    ]


def temp_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "storage" / "tmp"
    return [p for p in root.iterdir() if p.name.endswith(".part")] if root.exists() else []


@dataclass
class Postgres:
    url: str  # SQLAlchemy URL of an empty database
    root: Path
    pg_ctl: Path

    def stop(self) -> None:
        import shutil
        import subprocess

        subprocess.run(
            ["su", "postgres", "-c", f"{self.pg_ctl} -D {self.root}/data -m immediate -w stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port (needs root, to run as postgres)."""
    import glob
    import os
    import shutil
    import subprocess
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found or shutil.which("su") is None or os.geteuid() != 0:
        raise RuntimeError(
            "PostgreSQL tests need the postgresql package and root (to run it as postgres): "
            "run scripts/services"
        )
    bin_dir = Path(found[-1]).parent
    # outside pytest's temporary folders, whose parents the postgres user cannot enter
    root = Path(tempfile.mkdtemp(prefix="scopix-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data_dir = root / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def as_postgres(command: str) -> None:
        done = subprocess.run(["su", "postgres", "-c", command], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command!r} failed: {done.stderr.strip() or done.stdout}")

    as_postgres(f"{bin_dir}/initdb -D {data_dir} -A trust -U postgres -E UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(f"{bin_dir}/pg_ctl -D {data_dir} -l {root}/log.txt -o '{options}' -w start")
    as_postgres(f"{bin_dir}/createdb -h 127.0.0.1 -p {port} -U postgres scopix")
    return Postgres(
        f"postgresql+asyncpg://postgres@127.0.0.1:{port}/scopix", root, bin_dir / "pg_ctl"
    )


async def wait_until_terminal(client: Any, file_id: str, timeout: float = 90.0) -> dict[str, Any]:
    """Poll ``/files/{id}/status`` (through a ``scopix.Scopix``) until the pipeline is done."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = (await client.request("GET", f"/files/{file_id}/status")).json()
        if status["is_terminal"]:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"file {file_id} not processed within {timeout} s: {status}")
        await asyncio.sleep(0.05)


def wait_until_terminal_sync(
    client: httpx.Client, file_id: str, timeout: float = 90.0
) -> dict[str, Any]:
    """The same through a plain ``httpx.Client`` whose base URL is the API root."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = client.get(f"/files/{file_id}/status").json()
        if status["is_terminal"]:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"file {file_id} not processed within {timeout} s: {status}")
        time.sleep(0.05)


@dataclass
class S3Server:
    """``rclone serve s3`` on loopback: a real S3 server that enforces SigV4."""

    endpoint: str
    root: Path  # buckets are its top-level folders
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]

    def objects(self, bucket: str) -> list[Path]:
        return sorted(p for p in (self.root / bucket).rglob("*") if p.is_file())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def start_s3(root: Path, bucket: str) -> S3Server:
    rclone = Path(sys.executable).parent / "rclone"
    (root / bucket).mkdir(parents=True)
    port = free_port()
    access, secret = "scopix-test", "scopix-test-secret"
    process = subprocess.Popen(
        [str(rclone), "serve", "s3", "--addr", f"127.0.0.1:{port}",
         "--auth-key", f"{access},{secret}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rclone serve s3 did not start") from None
            time.sleep(0.05)
    return S3Server(f"http://127.0.0.1:{port}", root, access, secret, process)


def purge_at(settings: Settings, now: Any) -> Any:
    """Run the periodic purge of ``settings``'s server once, as if it were ``now``; its report."""
    from scopix_server.services.retention import purge
    from scopix_server.storage import open_storage

    async def run() -> Any:
        engine = create_engine(settings.resolved_database_url)
        try:
            return await purge(
                create_sessionmaker(engine),
                open_storage(settings.resolved_storage_url, settings),
                retention_days=settings.retention_days,
                now=now,
            )
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:  # (callers may be inside an event loop)
        return pool.submit(asyncio.run, run()).result()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_process(data_dir: Path, port: int, **environment: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m scopix_server serve`` in a process of its own, until ``/ready`` answers;
    ``environment`` adds ``SCOPIX_SERVER_*`` settings. Stopped (terminated) at the end."""
    env = {**os.environ, **environment}
    process = subprocess.Popen(
        [sys.executable, "-m", "scopix_server", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=30)
