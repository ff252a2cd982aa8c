"""Memory of the embedded server over a real-world corpus and hostile files.

    .venv/bin/python bench/memory.py [--corpus PATH] [--settle 10]

Starts ``scopix-server serve`` on the embedded defaults (SQLite, a local folder, the default
number of workers) in a temporary data folder and measures the memory of its process tree (the
server and its work processes): idle; sampled every 50 ms while every file of the corpus
(default ``../shared/corpus/pillow-test-images`` beside the repository) is uploaded, plus
hostile files made here (a 13000x13000 PNG, a DOCX whose parts inflate to 1 GiB, a blank
300-page PDF, a 96-megapixel JPEG); then, once every job is terminal and a short settle has
passed, after the drain. Memory is PSS, the tree's real share (pages shared between processes,
such as libraries, split between them); RSS summed over the processes is printed beside it, and
the server process's own high-water mark (VmHWM). Goals (issue 12): peak under 1 GiB; after the
drain, back within 200 MB of idle.
"""

from __future__ import annotations

import argparse
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_support import VENV_BIN, create_key, free_port, wait_for_port
from PIL import Image

MiB = 1024 * 1024
PEAK_GOAL = 1024 * MiB
DRAIN_GOAL = 200 * 1000 * 1000
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pillow-test-images"


# --- memory of a process tree, from /proc ---


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Usage:
    """Bytes of a process tree: RSS summed (pages shared between the processes, such as the
    libraries each maps, counted once per process) and PSS (shared pages split between the
    processes that map them: the tree's real share of memory), and how many processes."""

    rss: int = 0
    pss: int = 0
    processes: int = 0

    def peak(self, other: Usage) -> Usage:
        return Usage(max(self.rss, other.rss), max(self.pss, other.pss),
                     max(self.processes, other.processes))  # fmt: skip


def usage(pid: int) -> Usage:
    members = _tree(pid)
    return Usage(
        rss=sum(_kib(f"/proc/{p}/status", "VmRSS") for p in members) * 1024,
        pss=sum(_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in members) * 1024,
        processes=len(members),
    )


def high_water(pid: int) -> int:
    """The kernel's peak RSS of the server process itself (its children not included)."""
    return _kib(f"/proc/{pid}/status", "VmHWM") * 1024


class Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, Usage()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = self.peak.peak(usage(self.pid))
            time.sleep(self.every)


# --- hostile files, made here ---


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path: Path, side: int = 13000) -> None:
    """An RGB PNG of side x side written row by row (this process never holds it whole)."""
    rows = [b"\x00" + bytes([shade, 255 - shade, 90]) * side for shade in (30, 220)]
    repeat = b"\x02" + bytes(3 * side)  # "up": the row above again
    deflate = zlib.compressobj(1)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        pending = bytearray()
        for y in range(side):
            pending += deflate.compress(rows[y // 500 % 2] if y % 500 == 0 else repeat)
            if len(pending) >= MiB:
                out.write(_png_chunk(b"IDAT", bytes(pending)))
                pending.clear()
        out.write(_png_chunk(b"IDAT", bytes(pending + deflate.flush())))
        out.write(_png_chunk(b"IEND", b""))


_DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
        '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
        '"word/document.xml"/></Relationships>'
    ),
}


def docx_bomb(path: Path, part: str, mib: int) -> None:
    """A DOCX whose ``part`` is valid XML padded to ``mib`` MiB of spaces (about 1 MB zipped)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats'
        '.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Bomb</w:t></w:r></w:p>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _DOCX_PARTS.items():
            archive.writestr(name, text)
        if part != "word/document.xml":
            archive.writestr("word/document.xml", body + "</w:body></w:document>")
        with archive.open(part, "w", force_zip64=True) as stream:
            stream.write(body.encode() if part == "word/document.xml" else b"<Properties>")
            spaces = b" " * MiB
            for _ in range(mib):
                stream.write(spaces)
            end = "</w:body></w:document>" if part == "word/document.xml" else "</Properties>"
            stream.write(end.encode())


def blank_pdf(path: Path, pages: int = 300) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(612, 792)
    with path.open("wb") as out:
        document.save(out)


def big_jpeg(path: Path, size: tuple[int, int] = (12000, 8000)) -> None:
    """A photo-like JPEG: smooth colour fields, 96 megapixels."""
    rng = random.Random(7)
    small = Image.new("RGB", (48, 32))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 32)]
    )
    small.resize(size, Image.Resampling.BILINEAR).save(path, "JPEG", quality=85)


def hostile(folder: Path) -> list[Path]:
    made = {
        "huge-13000.png": huge_png,
        "app-1gib.docx": lambda p: docx_bomb(p, "docProps/app.xml", 1024),
        "body-110mib.docx": lambda p: docx_bomb(p, "word/document.xml", 110),
        "blank-300-pages.pdf": blank_pdf,
        "big-96mp.jpg": big_jpeg,
    }
    for name, make in made.items():
        make(folder / name)
    return [folder / name for name in made]


# --- the run ---


def upload_all(api: httpx.Client, paths: list[Path]) -> tuple[list[str], Counter[str]]:
    ids: list[str] = []
    outcomes: Counter[str] = Counter()
    for path in paths:
        with path.open("rb") as body:
            answer = api.post("/files/upload", files={"file": (path.name, body)})
        if answer.status_code == 201:
            ids.append(answer.json()["image_id"])
            outcomes["stored"] += 1
        else:
            suffix = path.suffix.lower() or "(none)"
            outcomes[f"refused {answer.status_code} {suffix}"] += 1
    return ids, outcomes


def drain(api: httpx.Client, ids: list[str], *, within: float = 1800) -> Counter[str]:
    states: dict[str, str] = {}
    pending = list(ids)
    deadline = time.monotonic() + within
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} jobs still not terminal after {within:.0f} s")
        still = []
        for file_id in pending:
            status = api.get(f"/files/{file_id}/status").json()
            if status["is_terminal"]:
                states[file_id] = status["status"]
            else:
                still.append(file_id)
        pending = still
        if pending:
            time.sleep(0.5)
    return Counter(states.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the drain")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"note: corpus not found at {args.corpus}; nothing measured (pass --corpus PATH)")
        return 0
    corpus = sorted(p for p in args.corpus.iterdir() if p.is_file())
    with tempfile.TemporaryDirectory(prefix="scopix-memory-") as temp:
        data, made = Path(temp) / "data", Path(temp) / "hostile"
        made.mkdir()
        started = time.monotonic()
        files = corpus + hostile(made)
        print(f"{len(corpus)} corpus files + {len(files) - len(corpus)} hostile files "
              f"(made in {time.monotonic() - started:.0f} s)")  # fmt: skip
        key = create_key(data)
        port = free_port()
        server = subprocess.Popen(
            [str(VENV_BIN / "scopix-server"), "serve", "--data-dir", str(data),
             "--port", str(port), "--log-level", "warning"],
        )  # fmt: skip
        try:
            wait_for_port(port, server)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}/api/v2",
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            ) as api:
                api.get("/files")  # the first request's imports belong to idle
                time.sleep(3)
                idle = usage(server.pid)
                sampler = Sampler(server.pid)
                sampler.start()
                started = time.monotonic()
                ids, outcomes = upload_all(api, files)
                uploaded = time.monotonic() - started
                states = drain(api, ids)
                drained = time.monotonic() - started
                sampler.stopping.set()
                sampler.join()
                time.sleep(args.settle)
                after = usage(server.pid)
                peak, server_peak = sampler.peak, high_water(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(idle, peak, server_peak, after, outcomes, states, uploaded, drained)
    return 0


def report(
    idle: Usage,
    peak: Usage,
    server_peak: int,
    after: Usage,
    outcomes: Counter[str],
    states: Counter[str],
    uploaded: float,
    drained: float,
) -> None:
    print(f"uploads took {uploaded:.0f} s; every job terminal after {drained:.0f} s")
    print("                PSS (tree)   RSS (tree, summed)   processes")
    for name, value in (("idle", idle), ("peak", peak), ("after drain", after)):
        print(f"{name:<12} {value.pss / MiB:9.0f} MiB {value.rss / MiB:14.0f} MiB "
              f"{value.processes:11d}")  # fmt: skip
    print(f"peak of the server process alone (VmHWM): {server_peak / MiB:.0f} MiB")
    grew = after.pss - idle.pss
    print(f"goal 1: peak PSS {peak.pss / MiB:.0f} MiB = {peak.pss / PEAK_GOAL:.2f} of 1 GiB")
    print(f"goal 2: after the drain +{grew / MiB:.0f} MiB over idle = "
          f"{grew / DRAIN_GOAL:.2f} of 200 MB")  # fmt: skip
    print(f"stored {outcomes['stored']}, completed {states['completed']}, "
          f"failed {states['failed']}")  # fmt: skip
    refused = sorted((name, count) for name, count in outcomes.items() if name != "stored")
    print("refused: " + (", ".join(f"{name} x{count}" for name, count in refused) or "none"))
    verdict = peak.pss < PEAK_GOAL and grew < DRAIN_GOAL
    print("goals: " + ("met" if verdict else "MISSED"))


if __name__ == "__main__":
    sys.exit(main())
