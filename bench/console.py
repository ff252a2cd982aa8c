"""The web console's first gallery paint and page weight for a library of 1,000 files.

    .venv/bin/python bench/console.py [--files 1000] [--rounds 5]

A server on a temporary folder receives ``--files`` small pictures (with thumbnails and BlurHash
placeholders made; OCR, the vision models, descriptions and the search index off, so that the
library is ready in seconds), then, in interleaved rounds (median of each), so that the shared
machine's drift hits both alike:

- baseline: the same server's JSON list call that the gallery makes
  (``GET /files?limit=48&offset=0``), from a new connection, with httpx;
- the console: Debian's Chromium (through Playwright, a new browser context each round, so
  nothing is cached) opens ``/`` already signed in; the time is the page's own performance mark
  ``scopix:gallery-painted`` (set when the first page of cards is in the document), from the
  start of navigation; the weight is every response before it but the thumbnails (HTML, CSS,
  scripts, JSON), bodies and headers as sent.

Targets (issue 16): first paint under 1.5 s and page weight under 500 kB before thumbnails.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from bench_support import scopix_server
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "tests"))
from playwright.sync_api import Browser, Request

from browser_support import chromium  # (the tests' Chromium, never downloaded)
from scopix import ClientConfig, Scopix

PAINT_TARGET_S = 1.5
WEIGHT_TARGET = 500_000


def make_pictures(folder: Path, count: int) -> None:
    rng = random.Random(16)
    for number in range(count):
        image = Image.new("RGB", (320, 240), (rng.randrange(256), rng.randrange(256), 90))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x, y = rng.randrange(280), rng.randrange(200)
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.ellipse((x, y, x + rng.randrange(20, 90), y + rng.randrange(20, 90)), fill=colour)
        image.save(folder / f"photo-{number:05d}.jpg", quality=80)


def ingest(base: str, key: str, folder: Path, count: int) -> None:
    async def run() -> None:
        async with Scopix.from_config(ClientConfig(api_key=key, base_url=base)) as client:
            results = await client.files.upload_batch(folder, auto_describe=False)
        assert len(results) == count and not results.has_failures, results.summary()

    anyio.run(run)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        deadline = time.monotonic() + 900
        while True:
            waiting = http.get("/files", params={"status": "processing", "limit": 1}).json()
            if waiting["total_count"] == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{waiting['total_count']} files still processing")
            time.sleep(1)
        listed = http.get("/files", params={"limit": 1}).json()
    assert listed["total_count"] == count, listed["total_count"]


def list_call(base: str, key: str) -> float:
    """Seconds for the gallery's own JSON call, on a new connection."""
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        answer = http.get("/files", params={"limit": 48, "offset": 0})
        answer.raise_for_status()
        assert len(answer.json()["items"]) == 48
    return time.perf_counter() - started


def console(browser: Browser, root: str, key: str) -> tuple[float, int, int]:
    """(seconds to the gallery's first paint, bytes before thumbnails, thumbnails' bytes)."""
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(f"sessionStorage.setItem('scopix.apiKey', {key!r});")
    finished: list[Request] = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(f"{root}/")
    page.wait_for_selector("body[data-gallery-ready='true']", state="attached")
    painted_ms = page.evaluate(
        "performance.getEntriesByName('scopix:gallery-painted')[0].startTime"
    )
    page.wait_for_load_state("networkidle")
    weight = thumbnails = 0
    for request in finished:
        sizes = request.sizes()
        size = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        if request.resource_type == "image" and "/storage/" in request.url:
            thumbnails += size
        else:
            weight += size
    cards = page.locator("#gallery .file-card").count()
    assert cards == 48, cards
    context.close()
    return painted_ms / 1000, weight, thumbnails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root_dir = Path(tmp)
        folder = root_dir / "photos"
        folder.mkdir()
        make_pictures(folder, args.files)
        env = {
            "SCOPIX_SERVER_WORKERS": "2",
            "SCOPIX_SERVER_OCR_ENABLED": "false",
            "SCOPIX_SERVER_VISION_ENABLED": "false",
            "SCOPIX_SERVER_EMBEDDER": "none",
        }
        paint: list[float] = []
        calls: list[float] = []
        weights: list[int] = []
        thumbs: list[int] = []
        with scopix_server(root_dir / "data", env) as served:
            root, base, key = served.root, served.base, served.key
            started = time.perf_counter()
            ingest(base, key, folder, args.files)
            took = time.perf_counter() - started
            print(f"{args.files} pictures uploaded and processed in {took:.0f} s")
            with chromium() as browser:
                list_call(base, key)
                console(browser, root, key)  # (warm the server's first-request paths)
                for number in range(args.rounds):
                    calls.append(list_call(base, key))
                    seconds, weight, thumbnails = console(browser, root, key)
                    paint.append(seconds)
                    weights.append(weight)
                    thumbs.append(thumbnails)
                    print(
                        f"round {number + 1}: list call {calls[-1] * 1000:.0f} ms, "
                        f"first paint {seconds * 1000:.0f} ms, {weight / 1000:.0f} kB "
                        f"(+ {thumbnails / 1000:.0f} kB of thumbnails)"
                    )

    call_s = statistics.median(calls)
    paint_s = statistics.median(paint)
    weight = int(statistics.median(weights))
    print(f"JSON list call, 48 files (baseline): {call_s * 1000:7.0f} ms")
    print(f"console first gallery paint:         {paint_s * 1000:7.0f} ms "
          f"({paint_s / call_s:.1f}x the list call; target < {PAINT_TARGET_S:.1f} s)")  # fmt: skip
    print(f"page weight before thumbnails:       {weight / 1000:7.0f} kB "
          f"(target < {WEIGHT_TARGET / 1000:.0f} kB); thumbnails "
          f"{statistics.median(thumbs) / 1000:.0f} kB")  # fmt: skip
    ok = paint_s < PAINT_TARGET_S and weight < WEIGHT_TARGET
    print("result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
