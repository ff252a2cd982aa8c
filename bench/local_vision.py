"""The local analyser's cost: each model, the whole analyser and the work processes that run it.

    .venv/bin/python bench/local_vision.py [--rounds 3]

Photos: scikit-image's bundled samples (astronaut, cat, coffee, rocket, and more), each also
at 2x (up to 1,024 pixels, as processing looks at them). In one process, with the models loaded:

- each model called directly on the prepared picture (classifier, faces, safety), in ms;
- the whole analyser (``vision.see``: the three models plus the words, labels and vector),
  against the sum of the direct calls: the overhead (target < 15 %);
- throughput on the product's path: ``work.image`` with vision on (decode, look, answer) in
  ``WorkProcesses`` of 1 and of 2 children, in images per second;
- memory: the peak RSS of a work process with every model loaded (people grouping on, so the
  face descriptor too) after the run (target < 1 GiB), and of this process, the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server" / "src"))

from scopix_server.jobs.isolation import WorkProcesses  # noqa: E402
from scopix_server.jobs.steps import work  # noqa: E402
from scopix_server.vision import sight  # noqa: E402

MiB = 1024 * 1024
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field", "motorcycle_left")


def photos() -> list[Image.Image]:
    images = []
    for name in PHOTOS:
        try:
            array = getattr(data, name)()
        except Exception:  # (a sample that would need downloading: left out)
            continue
        image = Image.fromarray(array).convert("RGB")
        images.append(image)
        bigger = image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)
        bigger.thumbnail((1024, 1024))
        images.append(bigger)
    return images


def per_image_ms(
    call: Callable[[Image.Image], Any], images: list[Image.Image], rounds: int
) -> float:
    times = []
    for _ in range(rounds):
        for image in images:
            start = time.perf_counter()
            call(image)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def load_everything() -> int:
    """In a work process: every model loaded (people grouping on); its pid."""
    sight.see(Image.new("RGB", (320, 240), (128, 128, 128)), descriptors=True)
    return os.getpid()


async def throughput(paths: list[Path], children: int, rounds: int) -> tuple[float, list[int]]:
    processes = WorkProcesses(size=children, memory_bytes=2048 * MiB, decode_budget=512 * MiB)
    try:
        pids = await asyncio.gather(*(processes.call(load_everything) for _ in range(children)))
        start = time.perf_counter()
        jobs = [
            processes.call(
                work.image,
                path,
                100_000_000,
                with_variants=False,
                with_ocr=False,
                describe_side=None,
                with_vision=True,
                face_descriptors=True,
            )
            for _ in range(rounds)
            for path in paths
        ]
        await asyncio.gather(*jobs)
        rate = len(jobs) / (time.perf_counter() - start)
        return rate, [peak_rss(pid) for pid in set(pids)]
    finally:
        processes.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    images = photos()
    print(f"{len(images)} photos ({len(images) // 2} samples, each also at 2x), "
          f"{args.rounds} rounds; {os.cpu_count()} cores")  # fmt: skip
    models = sight._MODELS
    started = time.perf_counter()
    classifier, faces, safety = models.classifier(), models.faces(False), models.safety()
    print(f"models loaded in {time.perf_counter() - started:.2f} s (classifier, faces, safety)")
    sight.see(images[0])  # warm
    direct = {
        "classifier": per_image_ms(classifier, images, args.rounds),
        "faces": per_image_ms(faces, images, args.rounds),
        "safety": per_image_ms(safety, images, args.rounds),
    }
    whole = per_image_ms(sight.see, images, args.rounds)
    total = sum(direct.values())
    for name, ms in direct.items():
        print(f"  {name:<11} {ms:7.1f} ms an image (direct call)")
    overhead = whole / total - 1
    verdict = "ok" if overhead < 0.15 else "OVER the 15 % target"
    print(f"  analyser    {whole:7.1f} ms an image; the direct calls sum to {total:.1f} ms: "
          f"overhead {overhead:+.1%} ({verdict})")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, image in enumerate(images):
            path = Path(folder) / f"{index}.jpg"
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
            path.write_bytes(buffer.getvalue())
            paths.append(path)
        rates = {}
        for children in (1, 2):
            rate, peaks = asyncio.run(throughput(paths, children, args.rounds))
            rates[children] = rate
            print(f"  work processes: {children}: {rate:5.2f} images/s (decode + every model); "
                  f"peak RSS of a work process {max(peaks) / MiB:.0f} MiB")  # fmt: skip
        print(f"  2 processes / 1: {rates[2] / rates[1]:.2f}x")
        peak = max(peaks)
        verdict = "ok" if peak < 1024 * MiB else "OVER the 1 GiB target"
        print(f"worker peak RSS: work process {peak / MiB:.0f} MiB with every model loaded "
              f"({verdict}); this process {peak_rss(os.getpid()) / MiB:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
