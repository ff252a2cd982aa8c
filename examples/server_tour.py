"""A tour of scopix-server with the SDK: start it from nothing, create a key, upload, find, fetch.

Run it with ``scripts/demo`` (or ``python examples/server_tour.py [--keep]``). It starts the real
server on the embedded defaults (SQLite + a local storage folder) in a fresh data folder, creates
an API key with the CLI, and then uses ``scopix.SyncScopix`` for everything else. The images and
the document are made here, in code. ``--keep`` leaves the server running and prints its address
and key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from scopix import (
    QuotaInfo,
    SyncScopix,
    TransferConfig,
    UploadProgressEvent,
    UploadResult,
    ValidationError,
)

BIN = Path(sys.executable).parent


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Interrupted(Exception):
    pass


def heading(text: str) -> None:
    print(f"\n== {text}")


def start_server(data_dir: Path, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [str(BIN / "scopix-server"), "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("scopix-server did not start") from None
            time.sleep(0.1)


def tour(base_url: str, key: str, workdir: Path) -> None:
    with SyncScopix(key, base_url=base_url) as client:
        heading("Upload three images and a text document")
        samples = {
            "sunset.png": png(64, 32, (250, 120, 40)),
            "sea.png": png(48, 48, (20, 90, 200)),
            "forest.png": png(32, 64, (30, 140, 60)),
            "notes.md": b"# Field notes\n\nSunset over the sea, forest on the ridge.\n",
        }
        results: dict[str, UploadResult] = {}
        for name, data in samples.items():
            response = client.request(
                "POST",
                "/files/upload",
                files={"file": (name, data)},
                data={"tags": "demo,colour" if name.endswith(".png") else "demo,text"},
            )
            results[name] = UploadResult.from_api_response(response.json())
            r = results[name]
            print(
                f"{name:<11} -> {r.media_type:<8} id={r.file_id}  "
                f"description={r.description_status.value}"
            )

        heading("Upload sunset.png again with skip_duplicates: nothing new is stored")
        again = client.request(
            "POST",
            "/files/upload",
            files={"file": ("sunset-copy.png", samples["sunset.png"])},
            data={"skip_duplicates": "true"},
        ).json()
        print(
            f"status={again['status']}  same file as before: "
            f"{again['image_id'] == results['sunset.png'].file_id}"
        )

        heading("Find files")
        listing = client.request("GET", "/files", params={"tags": "colour", "sort_by": "title"})
        print(f"tagged 'colour': {listing.json()['total_count']} files")
        found = client.request("GET", "/files", params={"search": "notes"}).json()["items"]
        print(f"search 'notes': {[item['filename'] for item in found]}")

        heading("Download a file back: the bytes are identical")
        downloaded = client.request("GET", f"/files/{results['sea.png'].file_id}/download").content
        same = hashlib.sha256(downloaded).digest() == hashlib.sha256(samples["sea.png"]).digest()
        print(f"sea.png: {len(downloaded)} bytes, identical: {same}")

        heading("An executable named photo.jpg is refused by its content")
        try:
            client.request(
                "POST", "/files/upload", files={"file": ("photo.jpg", b"\x7fELF" + bytes(60))}
            )
        except ValidationError as error:
            print(f"{type(error).__name__} {error.status_code} {error.code}: {error.message}")

        heading("A batch: each file accepted or refused on its own; progress per session")
        batch = client.request(
            "POST",
            "/files/upload/batch",
            files=[
                ("files", ("dawn.png", png(16, 16, (240, 200, 160)))),
                ("files", ("empty.png", b"")),
            ],
        ).json()
        print(
            f"accepted={batch['accepted_files']} rejected={batch['rejected_files']} "
            f"status={batch['status']}"
        )
        progress = client.request("GET", batch["status_url"].removeprefix("/api/v2")).json()
        print(f"session {progress['session_id']}: {progress['progress_percentage']}% done")

        heading("A large file goes straight to storage in parts; an interruption is resumed")
        big = workdir / "survey.txt"  # 12 MiB of text, sent as 3 parts of 5 MiB
        big.write_bytes(
            b"".join(b"line %07d of the survey\n" % n for n in range(500_000))[: 12 << 20]
        )
        transfer = TransferConfig(
            direct_threshold=1 << 20, part_size=5 << 20, concurrency=1, state_dir=workdir
        )

        def stop_halfway(event: UploadProgressEvent) -> None:
            if event.uploaded_bytes > event.total_bytes // 2:
                raise Interrupted  # as if the connection dropped, or the program stopped

        try:
            client.files.upload(big, transfer=transfer, on_progress=stop_halfway)
        except Interrupted:
            upload_id = json.loads(next(workdir.glob("*.json")).read_text())["upload_id"]
            state = client.request("GET", f"/files/direct-uploads/{upload_id}").json()
            print(f"interrupted; the server has parts {state['received_parts']} of 3")
        resumed = client.files.upload(big, transfer=transfer)  # the same path: it resumes
        print(
            f"resumed and completed: {resumed.media_type}, status={resumed.status}, "
            f"deduplicated={resumed.deduplicated}"
        )

        heading("Ask the library (no language model is configured: the best passages, quoted)")
        client.files.wait_for_description(results["notes.md"].file_id, timeout=60)
        with client.chat_session(title="Tour") as chat:
            answer = chat.send("What is on the ridge?")
        cited = "notes.md" in [c["filename"] for c in answer.citations]
        quoted = "ridge" in answer.content
        print(f"mode={answer.mode}; cites notes.md: {cited}; quotes it: {quoted}")

        heading("Quota")
        quota = QuotaInfo.from_api_response(
            client.request("GET", "/uploads/quota-check", params={"file_count": 10}).json()
        )
        print(f"can upload 10 more: {quota.can_proceed} ({quota.message})")


def main() -> None:
    parser = argparse.ArgumentParser(description="Start scopix-server and use it through the SDK.")
    parser.add_argument("--keep", action="store_true", help="leave the server running at the end")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="scopix-demo-"))
    data_dir = workdir / "scopix-data"
    key = subprocess.run(
        [str(BIN / "scopix-server"), "keys", "create", "--data-dir", str(data_dir),
         "--tenant", "demo", "--admin"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/api/v2"
    server = start_server(data_dir, port)
    print(f"scopix-server is running at {base_url} (data in {data_dir})")
    try:
        tour(base_url, key, workdir)
    finally:
        if args.keep:
            print(
                f"\nThe server keeps running: {base_url}\nAPI key: {key}\n"
                f"(stop it: kill {server.pid})"
            )
        else:
            server.terminate()
            server.wait(timeout=15)
            shutil.rmtree(workdir, ignore_errors=True)
            print("\nServer stopped and its data folder removed (use --keep to keep both).")


if __name__ == "__main__":
    main()
