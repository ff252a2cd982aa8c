"""The main job: scopix-server on its embedded defaults, used through the SDK on the samples.

    python examples/demo.py [--once] [--port N]

It starts ``scopix-server`` (SQLite and a storage folder, in a fresh data folder), creates an
API key, uploads ``examples/samples/`` (photos with text, a scanned invoice, a PDF, a DOCX and a
Markdown note, all made by ``examples/samples/make_samples.py``), waits for processing, and
prints each file's description, tags and the text read from it, then finds files by meaning
(questions worded unlike the files). The server then keeps running
with its address and key printed, until Ctrl-C; ``--once`` stops it and removes its data.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio

from scopix import ClientConfig, FileCompleteEvent, Scopix

BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).resolve().parent / "samples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(BIN / "scopix-server"), "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning"],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("scopix-server did not start (see its messages above)") from None
            time.sleep(0.1)


def create_key(data_dir: Path) -> str:
    return subprocess.run(
        [str(BIN / "scopix-server"), "keys", "create", "--data-dir", str(data_dir),
         "--tenant", "demo", "--admin", "--name", "demo"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def excerpt(text: str | None, width: int = 96, lines: int = 4) -> str:
    flat = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not flat:
        return "(none)"
    shown = " / ".join(flat[:lines]) + (" / …" if len(flat) > lines else "")
    return textwrap.shorten(shown, width=width, placeholder=" …")


async def job(base_url: str, key: str) -> bool:
    config = ClientConfig(api_key=key, base_url=base_url, polling_interval=0.5)
    async with Scopix.from_config(config) as client:
        files = sorted(p for p in SAMPLES.iterdir() if p.suffix != ".py")
        print(f"Uploading {len(files)} sample files from {SAMPLES} and waiting for processing …")

        def done(event: FileCompleteEvent) -> None:
            print(f"  stored {event.result.filename}")

        results = await client.files.upload_batch(
            SAMPLES, wait=True, description_timeout=600, on_file_complete=done
        )
        print(f"\n{results.summary()}\n")
        for result in results:
            details = await client.files.get(result.file_id) if result.file_id else None
            print(f"== {result.filename}")
            if details is None:
                print(f"   not stored: {result.description_error}")
                continue
            count = details.page_count or 0
            pages = f", {count} page{'s' * (count != 1)}" if count else ""
            print(f"   {details.media_type}{pages}; description {details.description_status.value}")
            print(textwrap.indent(textwrap.fill(details.description or "-", 92), "   "))
            print(f"   tags: {', '.join(details.tags) or '-'}")
            print(f"   text: {excerpt(details.visible_text)}")
        await search_by_meaning(client, [r.file_id for r in results if r.file_id])
        return not results.has_failures


SEARCHES = [  # questions in other words than the files use
    ("documents", "how much money did the company make last year"),
    ("images", "where can I buy bread"),
]


async def search_by_meaning(client: Scopix, file_ids: list[str]) -> None:
    """Wait for the files to be indexed for search, then ask in plain words."""
    for file_id in file_ids:
        while not (await client.files.get_processing_status(file_id)).is_terminal:
            await anyio.sleep(0.5)
    print("\nSearch by meaning (hybrid: words and meaning fused)")
    for kind, query in SEARCHES:
        print(f"== {kind}: “{query}”")
        if kind == "documents":
            passages = await client.agent_search.documents(query, limit=3)
            for hit in passages.results:
                pages = ",".join(map(str, hit.page_numbers or []))
                print(f"   {hit.score:.2f}  {hit.document_filename} (page {pages}): "
                      f"{excerpt(hit.text, lines=1)}")  # fmt: skip
        else:
            images = await client.agent_search.images(query, limit=3)
            for image in images.results:
                print(f"   {image.score:.2f}  {image.filename} (matched its {image.matched})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="stop the server at the end")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="scopix-demo-"))
    port = args.port or free_port()
    print(f"Starting scopix-server on the embedded defaults (data in {data_dir}) …")
    server = start_server(data_dir, port)
    ok = False
    try:
        key = create_key(data_dir)
        base_url = f"http://127.0.0.1:{port}/api/v2"
        ok = anyio.run(job, base_url, key)
        if not args.once:
            print(
                f"\nscopix-server is running at {base_url}\n"
                f"API key: {key}\n"
                f"Try:  SCOPIX_API_KEY={key} SCOPIX_BASE_URL={base_url} "
                ".venv/bin/scopix ls\n"
                f"      API docs: http://127.0.0.1:{port}/api/v2/docs\n"
                f"      web console: http://127.0.0.1:{port}/ (sign in with the key above)\n"
                "Press Ctrl-C to stop it (its data folder is removed then)."
            )
            with contextlib.suppress(KeyboardInterrupt):
                server.wait()
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        print("Server stopped and its data folder removed.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
