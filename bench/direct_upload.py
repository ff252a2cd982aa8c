"""Direct-upload throughput: the SDK's parallel parts against boto3's ``upload_file``.

    .venv/bin/python bench/direct_upload.py [--mb 300] [--part-mb 16] [--concurrency 4] [--rounds 3]

Both send the same generated file to the same ``rclone serve s3`` on loopback, with the same
part size and concurrency, in interleaved rounds (median of each), each in a child process of
its own so that its peak RSS is its alone:

- baseline: boto3 ``upload_file`` (managed multipart) straight into the bucket;
- the SDK: ``client.files.upload(path)`` to a ``scopix-server`` on S3 storage: start, then
  the parts through the presigned URLs (timed until the last part's answer: the transfer that
  boto3 also does), then ``complete``, where the server reads the object back once to check
  its size and SHA-256 (printed too, as the rate of the whole call).

Targets (issue 6): the SDK's transfer at least 0.9x boto3's rate; the SDK process's peak RSS
within concurrency x part size + 60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_support import s3_server, scopix_server

MiB = 1024 * 1024

BOTO3_CHILD = """
import json, resource, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
endpoint, path, key, part, concurrency = sys.argv[1:6]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="bench", aws_secret_access_key="bench-secret",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  max_pool_connections=int(concurrency) + 2))
config = TransferConfig(multipart_threshold=int(part), multipart_chunksize=int(part),
                        max_concurrency=int(concurrency), use_threads=True)
started = time.perf_counter()
client.upload_file(path, "bench", key, Config=config)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SDK_CHILD = """
import asyncio, json, resource, sys, time
import httpx
from scopix import ClientConfig, Scopix, TransferConfig
base, api_key, path, part, concurrency = sys.argv[1:6]
moments = {}

async def seen(response):  # when the parts end: the last PUT answered
    if response.request.method == "PUT":
        moments["parts_done"] = time.perf_counter()

async def main():
    transfer = TransferConfig(direct_threshold=0, part_size=int(part),
                              concurrency=int(concurrency), resume=False)
    config = ClientConfig(api_key=api_key, base_url=base)
    http = httpx.AsyncClient(timeout=300, event_hooks={"response": [seen]})
    async with Scopix.from_config(config, http_client=http) as client:
        started = time.perf_counter()
        result = await client.files.upload(path, transfer=transfer, auto_describe=False)
        elapsed = time.perf_counter() - started
    await http.aclose()
    assert result.deduplicated is False and result.object_key, result
    return elapsed, moments["parts_done"] - started

elapsed, transfer = asyncio.run(main())
print(json.dumps({"seconds": elapsed, "transfer_seconds": transfer,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def make_file(path: Path, size: int, salt: int) -> None:
    """PNG magic and random bytes (stored, not decoded); each round's file differs (no dedup)."""
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + salt.to_bytes(8, "big"))
        left = size - 16
        while left:
            chunk = os.urandom(min(left, 8 * MiB))
            out.write(chunk)
            left -= len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--part-mb", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size, part = args.mb * MiB, args.part_mb * MiB
    print(
        f"{args.mb} MB, parts of {args.part_mb} MB, {args.concurrency} at a time, "
        f"{args.rounds} interleaved rounds"
    )
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        seconds: dict[str, list[float]] = {"boto3": [], "sdk": [], "sdk_call": []}
        rss: list[float] = []
        with (
            s3_server(root / "s3") as endpoint,
            scopix_server(
                root / "data",
                {
                    "SCOPIX_SERVER_WORKERS": "0",
                    "SCOPIX_SERVER_STORAGE_URL": "s3://bench/library",
                    "SCOPIX_SERVER_S3_ENDPOINT_URL": endpoint,
                    "SCOPIX_SERVER_S3_ACCESS_KEY_ID": "bench",
                    "SCOPIX_SERVER_S3_SECRET_ACCESS_KEY": "bench-secret",
                },
            ) as served,
        ):
            base, key = served.base, served.key
            for number in range(args.rounds):
                path = root / f"big-{number}.png"
                make_file(path, size, number)
                common = (str(part), str(args.concurrency))
                baseline = child(BOTO3_CHILD, endpoint, str(path), f"boto3/{number}", *common)
                ours = child(SDK_CHILD, base, key, str(path), *common)
                seconds["boto3"].append(baseline["seconds"])
                seconds["sdk"].append(ours["transfer_seconds"])
                seconds["sdk_call"].append(ours["seconds"])
                rss.append(ours["rss_mb"])
                print(
                    f"round {number + 1}: boto3 {args.mb / baseline['seconds']:.0f} MB/s, "
                    f"SDK {args.mb / ours['transfer_seconds']:.0f} MB/s "
                    f"({args.mb / ours['seconds']:.0f} MB/s with complete) "
                    f"(peak RSS: SDK {ours['rss_mb']:.0f} MB, boto3 {baseline['rss_mb']:.0f} MB)"
                )
                path.unlink()

    rate = {name: args.mb / statistics.median(values) for name, values in seconds.items()}
    ratio = rate["sdk"] / rate["boto3"]
    budget = args.concurrency * args.part_mb + 60
    print(f"boto3 upload_file (baseline):       {rate['boto3']:6.0f} MB/s")
    print(f"SDK direct upload, start to parts:  {rate['sdk']:6.0f} MB/s")
    print(f"SDK, the whole call with complete:  {rate['sdk_call']:6.0f} MB/s")
    print(f"SDK / boto3: {ratio:.2f}x (target >= 0.9)")
    print(
        f"with complete: {rate['sdk_call'] / rate['boto3']:.2f}x (complete reads the object "
        "back once to check its SHA-256, which boto3 does not do)"
    )
    print(f"SDK peak RSS: {max(rss):.0f} MB (target <= {budget} MB = concurrency x part + 60)")
    ok = ratio >= 0.9 and max(rss) <= budget
    print("result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
