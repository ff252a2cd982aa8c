"""Helpers for the server tests: a live server on a loopback socket, keys, test files."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
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
    """``create_app(settings)`` on a real socket, in a thread of this process.

    Its workers run in this process too (``worker_processes=0``) unless the settings say
    otherwise: a test starts in a second instead of loading models twice, and may look inside.
    ``serve``'s worker processes are tested through ``serve_process``.
    """
    if "worker_processes" not in settings.model_fields_set:
        settings = settings.model_copy(update={"worker_processes": 0})
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
    if settings.resolved_storage_url.startswith("s3://") and SCALED is not None:
        root = SCALED.s3.root / settings.resolved_storage_url.removeprefix("s3://")
    if not root.exists():
        return []
    return [
        p for p in root.rglob("*") if p.is_file() and "derived" not in p.relative_to(root).parts[:1]
    ]


def temp_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "storage" / "tmp"
    return [p for p in root.iterdir() if p.name.endswith(".part")] if root.exists() else []


PG_USER = "scopix-pg"  # PostgreSQL runs as this account when the tests run as root


@dataclass
class Postgres:
    url: str  # SQLAlchemy URL of an empty database
    root: Path  # the cluster's folder: data/, log.txt and the Unix socket
    bin_dir: Path  # bin/ of the bundled PostgreSQL that runs it
    user: str | None  # the account it runs as (None: this process's own)

    def stop(self) -> None:
        pg_ctl = self.bin_dir / "pg_ctl"
        _pg_run(self.user, self.root, pg_ctl, "-D", self.root / "data", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_run(user: str | None, cwd: Path, *command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run one of the bundled PostgreSQL programs, as ``user`` when given (we are root then),
    from ``cwd`` (a folder it may enter) and without the caller's PG* settings (PGHOST, PGUSER,
    PGDATA...), which would send it elsewhere."""
    as_user: dict[str, Any] = {}
    if user is not None:
        import pwd

        account = pwd.getpwnam(user)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={name: value for name, value in os.environ.items() if not name.startswith("PG")},
        stdin=subprocess.DEVNULL,
        capture_output=True,  # (pg_ctl start sends the server's own output to its -l file)
        text=True,
        timeout=120,
        check=False,
        **as_user,
    )


def _bundled_postgres() -> Path:
    """``pginstall`` of the pgserver wheel: a PostgreSQL build (bin/, lib/, share/) with
    pgvector. Found without importing pgserver, whose import sets up lock files of its own."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "PostgreSQL tests need the pgserver wheel (PostgreSQL with pgvector) in the "
            "environment: run scripts/bootstrap, which installs it"
        )
    install = Path(spec.origin).resolve().parent / "pginstall"
    if not (install / "bin" / "postgres").is_file():
        raise RuntimeError(f"no PostgreSQL in {install}: reinstall pgserver with scripts/bootstrap")
    return install


def _lets_others_in(folder: Path) -> bool:
    """Whether any account may pass through ``folder`` and every folder above it."""
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in (folder, *folder.parents))


def _usable_by_anyone(install: Path) -> bool:
    """Whether any account may run the bundled PostgreSQL where pip put it: the folders above
    let it through, and it may read (and run) everything in ``install`` and in the wheel's
    ``pgserver.libs`` (the libpq that initdb, createdb and psql load)."""
    if not _lets_others_in(install.parent):
        return False
    for top in (install, install.parent.parent / "pgserver.libs"):
        for folder, _, names in os.walk(top):
            if os.stat(folder).st_mode & 0o005 != 0o005:
                return False
            for name in names:
                mode = os.stat(os.path.join(folder, name)).st_mode
                if not mode & stat.S_IROTH or (mode & stat.S_IXUSR and not mode & stat.S_IXOTH):
                    return False
    return True


def _shared_copy(install: Path) -> Path:
    """A copy of ``install`` that any account may read and run, made once per pgserver version
    under /var/tmp, for a venv that others cannot reach (say, a clone in a root-only folder).
    The programs find lib/ and share/ relative to themselves, and libpq through
    $ORIGIN/../../../pgserver.libs: the copy keeps that layout."""
    base = Path("/var/tmp") if os.path.isdir("/var/tmp") else Path("/tmp")
    cache = base / f"scopix-pgserver-{importlib.metadata.version('pgserver')}"
    if not cache.exists():
        staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=base))
        try:
            shutil.copytree(install, staging / "pgserver" / "pginstall")
            shutil.copytree(install.parent.parent / "pgserver.libs", staging / "pgserver.libs")
            for folder, _, names in os.walk(staging):
                os.chmod(folder, 0o755)
                for name in names:
                    path = os.path.join(folder, name)
                    os.chmod(path, 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644)
            try:
                os.rename(staging, cache)  # whole or not at all
            except OSError:
                if not cache.is_dir():  # (else a run beside this one made it first)
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    # /var/tmp is open to all: use only a copy that no other account could have made or changed
    made = os.lstat(cache)
    if not stat.S_ISDIR(made.st_mode) or made.st_uid != os.geteuid() or made.st_mode & 0o022:
        raise RuntimeError(f"{cache} is not this account's own copy of pgserver: remove it")
    return cache / "pgserver" / "pginstall"


def start_postgres() -> Postgres:
    """A throwaway PostgreSQL cluster (the pgserver wheel's build, with pgvector) on a free
    loopback port. PostgreSQL refuses to run as root: as root, it runs as the account
    scopix-pg (which scripts/services creates), from a shared copy where that account cannot
    reach the venv."""
    install = _bundled_postgres()
    user: str | None = None
    if os.geteuid() == 0:
        import pwd

        try:
            account = pwd.getpwnam(PG_USER)
        except KeyError:
            raise RuntimeError(
                f"PostgreSQL tests, as root, run PostgreSQL as the account {PG_USER}, which is "
                "missing: run scripts/services"
            ) from None
        user = PG_USER
        if not _usable_by_anyone(install):
            install = _shared_copy(install)
    bin_dir = install / "bin"
    # outside pytest's temporary folders, whose parents (mode 700) the account cannot enter
    base = Path(tempfile.gettempdir())
    if user is not None and not _lets_others_in(base):
        base = Path("/tmp")
    root = Path(tempfile.mkdtemp(prefix="scopix-pg-", dir=base))
    if user is not None:
        os.chown(root, account.pw_uid, account.pw_gid)  # (account: set with user, above)
    data_dir = root / "data"
    port = free_port()

    def run(*command: str | Path) -> None:
        done = _pg_run(user, root, *command)
        if done.returncode != 0:
            log = root / "log.txt"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(map(str, command))} failed: "
                f"{done.stderr.strip() or done.stdout.strip()}\n{tail}".strip()
            )

    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        run(bin_dir / "initdb", "-D", data_dir, "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--no-instructions")  # fmt: skip
        run(bin_dir / "pg_ctl", "-D", data_dir, "-l", root / "log.txt", "-o", options, "-w",
            "start")  # fmt: skip
        run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "scopix")
    except BaseException:
        Postgres("", root, bin_dir, user).stop()
        raise
    return Postgres(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/scopix", root, bin_dir, user)


@dataclass
class ScaledBackends:
    """One PostgreSQL and one S3 server for a test session; ``fresh()`` gives each test a new
    database (a copy of a migrated template) and a new bucket, as ``SCOPIX_SERVER_*``."""

    postgres: Postgres
    s3: S3Server
    count: int = 0
    last: dict[str, str] | None = None  # what ``fresh`` gave last

    TEMPLATE = "scopix_template"

    @classmethod
    def start(cls, s3_root: Path) -> ScaledBackends:
        postgres = start_postgres()
        try:
            s3 = start_s3(s3_root, "first")
        except BaseException:
            postgres.stop()
            raise
        backends = cls(postgres, s3)
        backends._admin(f"CREATE DATABASE {cls.TEMPLATE}")
        engine = create_engine(backends._url(cls.TEMPLATE))

        async def migrate() -> None:
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()

        asyncio.run(migrate())
        return backends

    def fresh(
        self, *, database: str | None = None, bucket: str | None = None, migrated: bool = True
    ) -> dict[str, str]:
        """Settings (by field name) of a new database (migrated: a copy of the template; else
        empty), and of a bucket; either is created unless it exists."""
        self.count += 1
        database = database or f"test_{self.count}"
        bucket = bucket or database.replace("_", "-")  # (S3 names take no "_")
        template = f" TEMPLATE {self.TEMPLATE}" if migrated else ""
        if not self._admin(f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
            self._admin(f"CREATE DATABASE {database}{template}")
        if not (self.s3.root / bucket).exists():  # (through S3: rclone caches its folders)
            self._s3_client().create_bucket(Bucket=bucket)
        self.last = {
            "database_url": self._url(database),
            "storage_url": f"s3://{bucket}/files",
            "s3_endpoint_url": self.s3.endpoint,
            "s3_access_key_id": self.s3.access_key,
            "s3_secret_access_key": self.s3.secret_key,
        }
        return self.last

    def stop(self) -> None:
        self.s3.stop()
        self.postgres.stop()

    def _s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3.endpoint,
            aws_access_key_id=self.s3.access_key,
            aws_secret_access_key=self.s3.secret_key,
            region_name="us-east-1",
        )

    def _url(self, database: str) -> str:
        return self.postgres.url.rsplit("/", 1)[0] + f"/{database}"

    def _admin(self, statement: str) -> list[Any]:
        import psycopg

        from scopix_server.jobs.procrastinate_queue import conninfo

        with psycopg.connect(conninfo(self.postgres.url), autocommit=True) as db:
            cursor = db.execute(statement)  # type: ignore[call-overload]
            return list(cursor.fetchall()) if cursor.description else []


SCALED: ScaledBackends | None = None  # set by conftest for ``--backends scaled``


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
         "--auth-key", f"{access},{secret}",
         # the console's direct uploads PUT from the page's origin (a random loopback port)
         "--allow-origin", "*", str(root)],
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


def kill_tree(process: subprocess.Popen[str]) -> None:
    """SIGKILL ``process`` and every process under it (``serve`` and its worker processes: a
    machine that lost power), the children first, so that none sees its parent go."""
    from scopix_server.jobs.supervisor import descendants

    for pid in [*reversed(descendants(process.pid)), process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_process(
    data_dir: Path, port: int, *args: str, **environment: str
) -> Iterator[subprocess.Popen[str]]:
    """``python -m scopix_server serve [args]`` in a process of its own, until ``/ready``
    answers; ``environment`` adds ``SCOPIX_SERVER_*`` settings. Terminated at the end."""
    env = {**os.environ, **environment}
    process = subprocess.Popen(
        [sys.executable, "-m", "scopix_server", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--log-level", "warning", *args],
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
