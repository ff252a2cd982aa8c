"""Pipeline throughput and latency: the server's pipeline against the same calls made directly.

    .venv/bin/python bench/pipeline_throughput.py [--count 50] [--megapixels 12]

Baseline (the floor): this process calls the pipeline's own steps directly, one image after
the other: decode (draft mode, EXIF orientation), the four WebP variants, BlurHash, OCR and the
basic description. Measured: the same images uploaded to a real server with one worker (the
same parallelism), timed from the first upload until the last is ``completed`` (polled every
0.25 s, as a patient client would; the poll's granularity counts against the server). Both
sides warm up on one photo, then run in interleaved blocks (alternating which goes first), so
that the shared machine's drift hits both alike. Target (issue 4): overhead under 15 %. Last,
the upload-to-``completed`` latency of one image on the warm server (polled every 20 ms).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from bench_support import VENV_BIN, create_key, free_port
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from scopix_server.jobs.steps.images import load_image
from scopix_server.jobs.steps.ocr import read_text
from scopix_server.jobs.steps.variants import blur_hash, render_variants
from scopix_server.providers import BasicProvider, DescribeInput

POLL_SECONDS = 0.25  # like a patient client; each poll costs the server a request
WORDS = ["HARBOUR", "MARKET", "STATION", "LIBRARY", "GARDEN", "MUSEUM", "BRIDGE", "CASTLE"]


def photo(number: int, megapixels: float) -> bytes:
    """A photo-like JPEG (smooth colour fields and noise) with a sign of text on it."""
    rng = random.Random(number)
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    small = Image.new("RGB", (64, 48))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 48)]
    )
    image = small.resize((width, height), Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(8)
    )
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=height // 14)
    text = f"{WORDS[number % len(WORDS)]} {number}"
    left, top = width // 8, height // 3
    box = draw.textbbox((left, top), text, font=font)
    draw.rectangle((box[0] - 40, box[1] - 40, box[2] + 40, box[3] + 40), fill=(250, 250, 245))
    draw.text((left, top), text, fill=(15, 15, 15), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def direct(path: Path) -> None:
    image, facts = load_image(path, max_pixels=180_000_000)
    render_variants(image)
    blur_hash(image)
    ocr = read_text(image)
    item = DescribeInput(
        media_type="image",
        filename=path.name,
        image=image,
        facts=facts,
        visible_text=ocr.text,
        text_regions=ocr.regions,
    )
    anyio.run(BasicProvider().describe, item)


def start(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SCOPIX_SERVER_WORKERS": str(workers),
        "SCOPIX_SERVER_JOB_POLL_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "scopix-server"), "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def wait_all(api: httpx.Client, ids: list[str], poll: float = POLL_SECONDS) -> None:
    """Until every file of ``ids`` is processed; one worker runs them in order, so only the
    last one is polled until it is done (then all are checked)."""
    pending = ids[-1:]
    while pending:
        pending = [i for i in pending if not api.get(f"/files/{i}/status").json()["is_terminal"]]
        if not pending:
            pending = [i for i in ids if not api.get(f"/files/{i}/status").json()["is_terminal"]]
        if pending:
            time.sleep(poll)


def through_server(
    api: httpx.Client, paths: list[Path], poll: float = POLL_SECONDS
) -> tuple[float, list[str]]:
    """Seconds from the first upload until the last of ``paths`` is processed; the file ids."""
    started = time.perf_counter()
    ids = []
    for path in paths:
        answer = api.post("/files/upload", files={"file": (path.name, path.read_bytes())})
        ids.append(answer.json()["image_id"])
    wait_all(api, ids, poll)
    return time.perf_counter() - started, ids


def directly(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        direct(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--block", type=int, default=5, help="photos per interleaved block")
    parser.add_argument("--megapixels", type=float, default=12.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        files = []
        for number in range(args.count + 1):  # the first one warms both paths up
            path = folder / f"photo-{number:03d}.jpg"
            path.write_bytes(photo(number, args.megapixels))
            files.append(path)
        size_mb = files[1].stat().st_size / 1e6
        print(f"{args.count} photos of {args.megapixels:.0f} MP, {size_mb:.1f} MB each")

        data_dir = folder / "data"
        key = create_key(data_dir)
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v2"
        headers = {"Authorization": f"Bearer {key}"}
        server = start(data_dir, port, workers=1)
        baseline = pipeline = 0.0
        ratios, ids = [], []
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
                direct(files[0])  # warm: models loaded, imports done, on both sides
                through_server(api, files[:1])
                blocks = [files[i : i + args.block] for i in range(1, len(files), args.block)]
                for number, block in enumerate(blocks):
                    # alternate which side goes first, so that drift hits both alike
                    if number % 2 == 0:
                        alone = directly(block)
                        served, block_ids = through_server(api, block)
                    else:
                        served, block_ids = through_server(api, block)
                        alone = directly(block)
                    baseline += alone
                    pipeline += served
                    ratios.append(served / alone)
                    ids += block_ids
                statuses = [api.get(f"/files/{i}/status").json() for i in ids]
                failed = [s for s in statuses if s["description_status"] != "completed"]
                latencies = []
                for path in files[1:4]:
                    latencies.append(through_server(api, [path], poll=0.02)[0])
        finally:
            server.terminate()
            server.wait()

    overhead = pipeline / baseline - 1
    ratios.sort()
    median = ratios[len(ratios) // 2] - 1
    print(f"direct calls (baseline):   {args.count / baseline:6.2f} images/s  ({baseline:.1f} s)")
    print(f"server pipeline, 1 worker: {args.count / pipeline:6.2f} images/s  ({pipeline:.1f} s)")
    print(
        f"overhead:                  {overhead:+6.1%}   (target < +15%; median of "
        f"{len(ratios)} interleaved blocks {median:+.1%}, range {ratios[0] - 1:+.1%} to "
        f"{ratios[-1] - 1:+.1%})"
    )
    print(f"upload-to-completed latency, one image: {min(latencies):.2f} s (best of 3)")
    if failed:
        print(f"{len(failed)} files did not complete: {failed[:2]}")
    ok = overhead < 0.15 and not failed
    print("result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
