"""Search quality: recall@1, recall@5 and MRR of lexical, semantic and hybrid search.

    .venv/bin/python bench/search_quality.py [--embedder minilm,wordllama] [--json PATH]

Builds a labelled set (bench/search_quality_data.py): documents on distinct topics (a few of
several chunks, the answer in a later one), images of drawn signs (read by OCR) and of scenes
(described only by their title and tags), and generated distractors on other topics: over 300
files. Each target has two queries: an ``exact`` one that shares words with it and a
``paraphrase`` that shares none (checked here before anything runs: the run is refused, naming
the query, if a paraphrase leaks a word of its target, even as a prefix).

For each embedder named (``SCOPIX_SERVER_EMBEDDER``), a fresh ``scopix-server serve`` (SQLite,
local storage, as many workers as CPUs) in a temporary data folder receives every file through
the SDK, and once every file's processing is over (embedding included), each query runs in each
mode, limit 10: image targets through ``agent_search.images``, documents through
``agent_search.documents`` (ranked by document: a document's first passage is its rank).
Printed: recall@1, recall@5 and MRR (reciprocal rank, 0 beyond 10) per mode for the exact half,
the paraphrase half and all, the mean latency of a query as the client sees it, the ingest
time, and the queries where hybrid ranked the target below semantic, with what the lexical leg
put first.

Targets (issue): hybrid's MRR at least the better of lexical's and semantic's; hybrid's
recall@5 on the paraphrases at least 0.8. A missed target is printed as FAIL; the exit status
is still 0 (this is a measurement). It is 1 only if the set is invalid or ingest times out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_support import VENV_BIN, create_key, free_port, wait_for_port
from search_quality_data import (
    STOP_WORDS,
    Distractor,
    Target,
    distractor_overlaps,
    distractors,
    long_document_problems,
    paraphrase_leaks,
    render,
    targets,
)

from scopix import Scopix, ScopixError
from scopix.types import ProcessingStatus
from scopix_server.search.lexical import STOP_WORDS as SERVER_STOP_WORDS

MODES = ("lexical", "semantic", "hybrid")
HALVES = ("exact", "paraphrase")
EMBEDDERS = ("minilm", "wordllama", "openai")
LIMIT = 10
UPLOADS_AT_ONCE = 6
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 15.0
MIN_FILES, MIN_QUERIES = 300, 60
PARAPHRASE_RECALL_GOAL = 0.8


@dataclass(frozen=True)
class Query:
    target: Target
    half: str  # exact | paraphrase

    @property
    def text(self) -> str:
        return self.target.exact if self.half == "exact" else self.target.paraphrase


@dataclass
class Answer:
    """One query run in one mode: where the target came, and what came first."""

    rank: int | None  # 1-based; None: not in the first LIMIT
    seconds: float
    first: list[str]  # file names of the first three hits
    ran_as: str | None  # the mode the server says it ran


@dataclass(frozen=True)
class Scores:
    count: int
    recall_1: float
    recall_5: float
    mrr: float


@dataclass
class Run:
    embedder: str
    ingest_seconds: float = 0.0
    total_seconds: float = 0.0
    answers: dict[tuple[int, str], Answer] = field(default_factory=dict)  # (query, mode)
    not_embedded: list[str] = field(default_factory=list)


# --- the labelled set ---


def check_set(items: list[Target], others: list[Distractor]) -> list[str]:
    """Why the set cannot measure what it claims (none: [])."""
    # only words the server leaves out too may be skipped: any other word could match
    stop_words = STOP_WORDS & SERVER_STOP_WORDS
    problems = paraphrase_leaks(items, stop_words)
    problems += long_document_problems(items)
    problems += distractor_overlaps(items)
    if len(items) + len(others) < MIN_FILES:
        problems.append(f"only {len(items) + len(others)} files (at least {MIN_FILES})")
    if 2 * len(items) < MIN_QUERIES:
        problems.append(f"only {2 * len(items)} queries (at least {MIN_QUERIES})")
    return problems


@dataclass(frozen=True)
class Upload:
    key: str
    filename: str
    data: bytes
    title: str | None
    tags: tuple[str, ...]


def uploads(items: list[Target], others: list[Distractor]) -> list[Upload]:
    """Every file, targets and distractors mixed (seeded), as files would arrive in life."""
    made = [Upload(i.key, i.filename, render(i), i.title, i.tags) for i in items]
    made += [Upload(d.key, d.filename, render(d), d.title, d.tags) for d in others]
    random.Random(11).shuffle(made)
    return made


# --- the server ---


def start_server(data_dir: Path, embedder: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "SCOPIX_SERVER_EMBEDDER": embedder,
        "SCOPIX_SERVER_WORKERS": str(os.cpu_count() or 1),
        "SCOPIX_SERVER_JOB_POLL_SECONDS": "0.2",  # idle workers pick up new jobs promptly
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "scopix-server"),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
    except RuntimeError:
        process.kill()
        sys.stdout.write(log.read_text(errors="replace")[-3000:])
        raise
    return process, port


async def upload_all(client: Scopix, files: list[Upload]) -> dict[str, str]:
    """Every file sent through the SDK, a few at a time; their ids by key."""
    gate = asyncio.Semaphore(UPLOADS_AT_ONCE)

    async def one(item: Upload) -> tuple[str, str]:
        async with gate:
            result = await client.files.upload(
                item.data, filename=item.filename, title=item.title, tags=list(item.tags) or None
            )
        return item.key, result.image_id

    return dict(await asyncio.gather(*(one(f) for f in files)))


async def statuses(client: Scopix, ids: Sequence[str]) -> list[ProcessingStatus]:
    gate = asyncio.Semaphore(8)

    async def one(file_id: str) -> ProcessingStatus:
        async with gate:
            return await client.files.get_processing_status(file_id)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def wait_processed(client: Scopix, ids: list[str], timeout: float) -> list[ProcessingStatus]:
    """Once every file's processing is over (every step, embedding included).

    Each second, the pending files are checked in upload order up to the first one still
    running (a terminal file stays terminal); all of them only every PROGRESS_SECONDS, for the
    progress line: polling every file each second would take CPU from the workers measured.
    """
    started = shown = time.monotonic()
    pending = list(ids)
    while pending:
        while pending and (await client.files.get_processing_status(pending[0])).is_terminal:
            pending.pop(0)
        elapsed = time.monotonic() - started
        if pending and elapsed > timeout:
            raise TimeoutError(
                f"{len(pending)} of {len(ids)} files not yet processed after {timeout:.0f} s"
            )
        if pending and time.monotonic() - shown >= PROGRESS_SECONDS:
            shown = time.monotonic()
            pending = [s.file_id for s in await statuses(client, pending) if not s.is_terminal]
            print(f"  {len(ids) - len(pending)}/{len(ids)} files processed, {elapsed:.0f} s")
        if pending:
            await asyncio.sleep(POLL_SECONDS)
    return await statuses(client, ids)


# --- the queries ---


async def search(client: Scopix, query: Query, mode: str) -> tuple[list[str], list[str], str]:
    """The file ids found (documents: by their first passage), their names, the mode run."""
    if query.target.is_image:
        images = await client.agent_search.images(query.text, limit=LIMIT, mode=mode)
        ids = [hit.image_id for hit in images.results]
        names = [hit.filename or "" for hit in images.results]
        return ids, names, images.search_mode or ""
    passages = await client.agent_search.documents(query.text, limit=LIMIT, mode=mode)
    first: dict[str, str] = {}
    for hit in passages.results:
        first.setdefault(hit.document_id, hit.document_filename)
    return list(first), list(first.values()), passages.search_mode or ""


async def ask(client: Scopix, query: Query, mode: str, target_id: str) -> Answer:
    started = time.perf_counter()
    ids, names, ran_as = await search(client, query, mode)
    seconds = time.perf_counter() - started
    rank = ids.index(target_id) + 1 if target_id in ids else None
    return Answer(rank, seconds, names[:3], ran_as)


async def ask_all(client: Scopix, queries: list[Query], ids: dict[str, str], run: Run) -> None:
    # one untimed query per kind of file and mode first: models load, caches fill
    first_of_each_kind = {q.target.is_image: q for q in reversed(queries)}.values()
    for query in first_of_each_kind:
        for mode in MODES:
            await search(client, query, mode)
    for number, query in enumerate(queries):
        for mode in MODES:  # every mode in turn, so that all see the same server
            run.answers[number, mode] = await ask(client, query, mode, ids[query.target.key])


# --- one run ---


async def measure(embedder: str, files: list[Upload], queries: list[Query], timeout: float) -> Run:
    run = Run(embedder)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="scopix-search-quality-") as temp:
        data_dir = Path(temp) / "data"
        key = create_key(data_dir)
        server, port = start_server(data_dir, embedder, Path(temp) / "server.log")
        try:
            async with Scopix(
                api_key=key, base_url=f"http://127.0.0.1:{port}/api/v2", timeout=120
            ) as client:
                ingest = time.monotonic()
                ids = await upload_all(client, files)
                print(
                    f"  uploaded {len(ids)} files in {time.monotonic() - ingest:.0f} s", flush=True
                )
                done = await wait_processed(client, list(ids.values()), timeout)
                run.ingest_seconds = time.monotonic() - ingest
                keys = {file_id: name for name, file_id in ids.items()}
                run.not_embedded = [
                    f"{keys[s.file_id]}: {s.embedding_status} {s.embedding_error or ''}".strip()
                    for s in done
                    if s.embedding_status != "completed"
                ]
                await ask_all(client, queries, ids, run)
        except ScopixError:
            # the server's own account of what went wrong, before its folder is gone
            log = (Path(temp) / "server.log").read_text(errors="replace")
            print(f"{embedder}: the server failed; the end of its log:\n{log[-4000:]}")
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)
    run.total_seconds = time.monotonic() - started
    return run


# --- the numbers ---


def scores(answers: list[Answer]) -> Scores:
    ranks = [a.rank for a in answers]
    count = len(ranks) or 1
    return Scores(
        count=len(ranks),
        recall_1=sum(r == 1 for r in ranks) / count,
        recall_5=sum(r is not None and r <= 5 for r in ranks) / count,
        mrr=sum(1 / r for r in ranks if r is not None) / count,
    )


def table(run: Run, queries: list[Query]) -> dict[str, dict[str, Scores]]:
    """Scores by mode, then by half (and ``all``)."""
    found: dict[str, dict[str, Scores]] = {}
    for mode in MODES:
        found[mode] = {}
        for half in (*HALVES, "all"):
            chosen = [n for n, q in enumerate(queries) if half in ("all", q.half)]
            found[mode][half] = scores([run.answers[n, mode] for n in chosen])
    return found


def latency_ms(run: Run, mode: str) -> float:
    times = [a.seconds for (_, m), a in run.answers.items() if m == mode]
    return 1000 * sum(times) / max(1, len(times))


def checks(numbers: dict[str, dict[str, Scores]]) -> dict[str, tuple[bool, str]]:
    hybrid = numbers["hybrid"]["all"].mrr
    best_mode = max(("lexical", "semantic"), key=lambda m: numbers[m]["all"].mrr)
    best = numbers[best_mode]["all"].mrr
    recall = numbers["hybrid"]["paraphrase"].recall_5
    return {
        "hybrid_mrr_at_least_best": (
            hybrid >= best,
            f"hybrid MRR {hybrid:.3f} >= the better single mode's, {best_mode} {best:.3f}",
        ),
        "paraphrase_recall_5": (
            recall >= PARAPHRASE_RECALL_GOAL,
            f"hybrid recall@5 on the paraphrases {recall:.3f} >= {PARAPHRASE_RECALL_GOAL}",
        ),
    }


def _position(answer: Answer) -> int:
    return answer.rank if answer.rank is not None else LIMIT + 1


def _rank(answer: Answer) -> str:
    return str(answer.rank) if answer.rank is not None else f">{LIMIT}"


def report(run: Run, queries: list[Query], files: int) -> dict[str, Any]:
    numbers = table(run, queries)
    documents = sum(not q.target.is_image for q in queries) // 2
    images = len(queries) // 2 - documents
    print(
        f"\n{run.embedder}: {files} files ({documents} documents and {images} images to find, "
        f"{files - documents - images} distractors); ingest {run.ingest_seconds:.0f} s, "
        f"whole run {run.total_seconds:.0f} s"
    )
    if run.not_embedded:
        print(f"  note: {len(run.not_embedded)} files not embedded: {run.not_embedded[:3]}")
    print(f"  {'mode':<9} {'queries':<17} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'latency':>9}")
    for mode in MODES:
        for half, row in numbers[mode].items():
            latency = f"{latency_ms(run, mode):6.0f} ms" if half == "all" else ""
            label = f"{half} ({row.count})"
            print(
                f"  {mode if half == 'exact' else '':<9} {label:<17} {row.recall_1:6.3f} "
                f"{row.recall_5:6.3f} {row.mrr:6.3f} {latency:>9}"
            )
    by_kind = []
    for mode in MODES:
        kinds = [[n for n, q in enumerate(queries) if q.target.is_image == i] for i in (0, 1)]
        mrr = [scores([run.answers[n, mode] for n in chosen]).mrr for chosen in kinds]
        by_kind.append(f"{mode} {mrr[0]:.3f} / {mrr[1]:.3f}")
    print(f"  MRR of documents / images: {'; '.join(by_kind)}")
    fell_back = {(n, m) for (n, m), a in run.answers.items() if a.ran_as != m}
    if fell_back:
        print(f"  note: {len(fell_back)} searches ran in another mode than asked")
    results = checks(numbers)
    for passed, line in results.values():
        print(f"  {'PASS' if passed else 'FAIL'}  {line}")
    worse = [
        (n, q)
        for n, q in enumerate(queries)
        if _position(run.answers[n, "hybrid"]) > _position(run.answers[n, "semantic"])
    ]
    print(
        f"  hybrid ranked the target below semantic on {len(worse)} queries"
        + (":" if worse else ".")
    )
    for n, query in worse:
        lexical, semantic, hybrid = (run.answers[n, m] for m in MODES)
        print(
            f"    [{query.half}] {query.target.key} {query.text!r}: semantic "
            f"{_rank(semantic)}, hybrid {_rank(hybrid)}, lexical {_rank(lexical)}; first in "
            f"lexical: {', '.join(lexical.first) or 'nothing'}; in hybrid: "
            f"{', '.join(hybrid.first) or 'nothing'}"
        )
    return {
        "embedder": run.embedder,
        "files": files,
        "ingest_seconds": round(run.ingest_seconds, 1),
        "total_seconds": round(run.total_seconds, 1),
        "not_embedded": run.not_embedded,
        "scores": {
            mode: {half: asdict(row) for half, row in halves.items()}
            for mode, halves in numbers.items()
        },
        "latency_ms": {mode: round(latency_ms(run, mode), 1) for mode in MODES},
        "checks": {name: passed for name, (passed, _) in results.items()},
        "queries": [
            {
                "target": q.target.key,
                "kind": q.target.kind,
                "half": q.half,
                "query": q.text,
                "ranks": {mode: run.answers[n, mode].rank for mode in MODES},
            }
            for n, q in enumerate(queries)
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--embedder",
        default="minilm",
        help="one or more of minilm, wordllama, openai, comma-separated",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for ingest")
    args = parser.parse_args()
    embedders = [e.strip() for e in args.embedder.split(",") if e.strip()]
    if not embedders or any(e not in EMBEDDERS for e in embedders):
        parser.error(f"--embedder: one or more of {', '.join(EMBEDDERS)}")

    items, others = targets(), distractors()
    problems = check_set(items, others)
    if problems:
        print("the labelled set is not valid, nothing measured:")
        for line in problems:
            print(f"  {line}")
        return 1
    queries = [Query(item, half) for half in HALVES for item in items]
    made = time.monotonic()
    files = uploads(items, others)
    print(
        f"{len(files)} files ({len(items)} targets, {len(others)} distractors) made in "
        f"{time.monotonic() - made:.0f} s; {len(queries)} queries, limit {LIMIT}; "
        f"{os.cpu_count()} workers"
    )

    written = []
    for embedder in embedders:
        print(f"\n{embedder}: a fresh server, ingesting...", flush=True)
        try:
            run = asyncio.run(measure(embedder, files, queries, args.timeout))
        except TimeoutError as error:
            print(f"{embedder}: {error}; nothing measured")
            return 1
        written.append(report(run, queries, len(files)))
    if args.json:
        args.json.write_text(json.dumps({"limit": LIMIT, "runs": written}, indent=2) + "\n")
        print(f"\nnumbers written to {args.json}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
