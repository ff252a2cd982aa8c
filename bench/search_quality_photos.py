"""Search quality, the photo half: queries that name what is in a photo with no text in it, with
and without the local analyser.

    .venv/bin/python bench/search_quality_photos.py [--embedder minilm]

Photos: scikit-image's bundled samples (the astronaut, the cat, the coffee, the rocket as
targets; its other colour and grey samples as distractors) and 40 drawings of coloured blocks,
all uploaded under meaningless names (IMG_0001.jpg...) with no title or tags, so that only what
an analyser saw can match. Two fresh servers (SQLite, MiniLM): one on the default ``local``
analyser, one on ``basic`` with the vision models off (what a description was before). Each
query runs through ``agent_search.images`` in hybrid mode, limit 10. Printed: recall@1 and
recall@5 and MRR per analyser, and each query's rank on both.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_support import VENV_BIN, create_key, free_port, wait_for_port
from PIL import Image, ImageDraw
from skimage import data

from scopix import Scopix

TARGETS = {"astronaut": "astronaut", "cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}
DISTRACTORS = ("hubble_deep_field", "immunohistochemistry", "retina", "camera", "moon", "brick",
               "grass", "gravel", "coins", "horse", "clock", "colorwheel")  # fmt: skip
QUERIES = [
    ("a cup of coffee", "coffee"),
    ("espresso on a saucer", "coffee"),
    ("a hot drink", "coffee"),
    ("a cat", "cat"),
    ("my pet", "cat"),
    ("tabby kitten", "cat"),
    ("a rocket", "rocket"),
    ("space launch", "rocket"),
    ("a person", "astronaut"),
    ("portrait of someone's face", "astronaut"),
]
ANALYSERS = {
    "local": {"SCOPIX_SERVER_DESCRIPTION_PROVIDERS": "local"},
    "basic, no vision": {
        "SCOPIX_SERVER_DESCRIPTION_PROVIDERS": "basic",
        "SCOPIX_SERVER_VISION_ENABLED": "false",
    },
}
LIMIT = 10


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _sample(name: str) -> Image.Image | None:
    try:
        array = getattr(data, name)()
    except Exception:  # (a sample that would need downloading)
        return None
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(array)


def _blocks(seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), (rng.randrange(256), rng.randrange(256), 120))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(560), rng.randrange(400)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(40, 160), y + rng.randrange(30, 120)), fill=colour)
    return image


def photos() -> list[tuple[str, bytes]]:
    """(key, JPEG) of every file, shuffled (seeded)."""
    made: list[tuple[str, bytes]] = []
    for key, name in TARGETS.items():
        image = _sample(name)
        assert image is not None, name
        made.append((key, _jpeg(image)))
    for name in DISTRACTORS:
        image = _sample(name)
        if image is not None:
            made.append((name, _jpeg(image)))
    made += [(f"blocks-{seed}", _jpeg(_blocks(seed))) for seed in range(40)]
    random.Random(5).shuffle(made)
    return made


async def _run(port: int, key: str, files: list[tuple[str, bytes]]) -> dict[str, int | None]:
    async with Scopix(api_key=key, base_url=f"http://127.0.0.1:{port}/api/v2", timeout=120) as c:
        ids = {}
        for number, (name, body) in enumerate(files, 1):
            stored = await c.files.upload(body, filename=f"IMG_{number:04d}.jpg")
            ids[name] = stored.image_id
        for file_id in ids.values():
            while not (await c.files.get_processing_status(file_id)).is_terminal:
                await asyncio.sleep(0.5)
        ranks: dict[str, int | None] = {}
        for query, target in QUERIES:
            found = await c.agent_search.images(query, limit=LIMIT, mode="hybrid")
            hits = [hit.image_id for hit in found.results]
            ranks[query] = hits.index(ids[target]) + 1 if ids[target] in hits else None
        return ranks


def measure(
    env: dict[str, str], embedder: str, files: list[tuple[str, bytes]]
) -> dict[str, int | None]:
    with tempfile.TemporaryDirectory(prefix="scopix-photo-quality-") as temp:
        data_dir = Path(temp) / "data"
        key = create_key(data_dir)
        port = free_port()
        log = Path(temp) / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(VENV_BIN / "scopix-server"), "serve", "--data-dir", str(data_dir),
                 "--port", str(port), "--log-level", "warning"],
                env={**os.environ, "SCOPIX_SERVER_EMBEDDER": embedder,
                     "SCOPIX_SERVER_WORKERS": str(os.cpu_count() or 1), **env},
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for_port(port, server)
            return asyncio.run(_run(port, key, files))
        finally:
            server.terminate()
            server.wait(timeout=30)


def summary(ranks: dict[str, int | None]) -> str:
    values = list(ranks.values())
    at = lambda k: sum(1 for r in values if r is not None and r <= k) / len(values)  # noqa: E731
    mrr = sum(1 / r for r in values if r is not None) / len(values)
    return f"recall@1 {at(1):.2f}  recall@5 {at(5):.2f}  MRR {mrr:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    files = photos()
    print(f"{len(files)} photos ({len(TARGETS)} targets), {len(QUERIES)} queries, limit {LIMIT}")
    results = {}
    for name, env in ANALYSERS.items():
        started = time.monotonic()
        results[name] = measure(env, args.embedder, files)
        print(f"  {name:<17} {summary(results[name])}  ({time.monotonic() - started:.0f} s)")
    print("\n  " + "query".ljust(42) + "  ".join(f"{n:>16}" for n in results))
    for query, target in QUERIES:
        ranks = "  ".join(f"{results[n][query] or '-'!s:>16}" for n in results)
        print(f"  {query + ' -> ' + target:<42}{ranks}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
