"""Batch upload rate: ``files.upload_batch`` against a sequential httpx loop and parallel S3 PUTs.

    .venv/bin/python bench/batch_upload.py [--files 1000] [--kb 200] [--rounds 3]

Three ways to send the same folder of files, each measured in files per second, in interleaved
rounds (median of each), so that the shared machine's drift hits all of them alike:

- baseline: a plain sequential loop of ``httpx`` POSTs to ``/files/upload`` (one connection);
- the SDK: ``client.files.upload_batch(folder, auto_describe=False)`` to the same server;
- ``aws s3 cp --recursive``-style: boto3 ``put_object`` from 10 threads to ``rclone serve s3``
  on the same machine (the S3 figure a user would compare against).

The server runs with no processing workers (descriptions off: this measures ingest). Targets
(issue 5): the SDK at least 3x the sequential loop and at least 0.8x the boto3 figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import boto3
import httpx
from bench_support import s3_server, scopix_server
from botocore.config import Config

from scopix import ClientConfig, Scopix


def sequential(base: str, key: str, files: list[Path]) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        for path in files:
            answer = http.post(
                "/files/upload",
                files={"file": (path.name, path.read_bytes())},
                data={"auto_describe": "false"},
            )
            answer.raise_for_status()
    return len(files) / (time.perf_counter() - started)


def sdk(base: str, key: str, folder: Path, count: int) -> float:
    async def run() -> float:
        config = ClientConfig(api_key=key, base_url=base)
        async with Scopix.from_config(config) as client:
            started = time.perf_counter()
            results = await client.files.upload_batch(folder, auto_describe=False)
            elapsed = time.perf_counter() - started
        assert len(results) == count and not results.has_failures, results.summary()
        return count / elapsed

    return anyio.run(run)


def s3(endpoint: str, files: list[Path], round_number: int) -> float:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=10,
        ),
    )

    def put(path: Path) -> None:
        client.put_object(
            Bucket="bench", Key=f"round-{round_number}/{path.name}", Body=path.read_bytes()
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(put, files))
    return len(files) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        folder = root / "images"
        folder.mkdir()
        for number in range(args.files):  # JPEG magic and random bytes: stored, not decoded
            data = b"\xff\xd8\xff\xe0" + os.urandom(args.kb * 1024 - 4)
            (folder / f"img-{number:05d}.jpg").write_bytes(data)
        files = sorted(folder.iterdir())
        print(f"{args.files} files of {args.kb} KB, {args.rounds} interleaved rounds")

        rates: dict[str, list[float]] = {"sequential": [], "sdk": [], "boto3": []}
        with (
            scopix_server(root / "data", {"SCOPIX_SERVER_WORKERS": "0"}) as served,
            s3_server(root / "s3") as endpoint,
        ):
            base, key = served.base, served.key
            sequential(base, key, files[:20])  # warm both up
            for round_number in range(args.rounds):
                rates["sdk"].append(sdk(base, key, folder, len(files)))
                rates["sequential"].append(sequential(base, key, files))
                rates["boto3"].append(s3(endpoint, files, round_number))
                print(
                    f"round {round_number + 1}: "
                    + ", ".join(
                        f"{name} {values[-1]:.0f} files/s" for name, values in rates.items()
                    )
                )

    median = {name: statistics.median(values) for name, values in rates.items()}
    versus_loop = median["sdk"] / median["sequential"]
    versus_s3 = median["sdk"] / median["boto3"]
    print(f"sequential httpx loop (baseline): {median['sequential']:7.0f} files/s")
    print(f"upload_batch (SDK):               {median['sdk']:7.0f} files/s")
    print(f"boto3, 10 threads, rclone s3:     {median['boto3']:7.0f} files/s")
    print(f"SDK / sequential loop: {versus_loop:.2f}x (target >= 3)")
    print(f"SDK / boto3:           {versus_s3:.2f}x (target >= 0.8)")
    ok = versus_loop >= 3 and versus_s3 >= 0.8
    print("result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
