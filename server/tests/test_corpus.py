"""Robustness run over the shared corpus of real-world, often broken or hostile, images.

Every file must end as a stored upload (201) or a documented refusal (415, 413), never a 500 or
a hang, through the single and the batch route alike; then every stored file must be processed
to a terminal state with a classified error. The corpus lives beside the repository
(``../shared/corpus``) or at ``$SCOPIX_CORPUS``; where it is absent the test says so and skips.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import httpx
import pytest

from scopix_server import Settings
from server_support import (
    LiveServer,
    make_key,
    png_bytes,
    start_server,
    wait_until_terminal_sync,
)

pytestmark = pytest.mark.corpus

CORPUS = Path(
    os.environ.get("SCOPIX_CORPUS")
    or Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pillow-test-images"
)


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"robustness corpus not found at {CORPUS} (set SCOPIX_CORPUS to run it)")
    return sorted(p for p in CORPUS.iterdir() if p.is_file())


def test_every_corpus_file_is_stored_or_refused_clearly(live: LiveServer) -> None:
    files = corpus_files()
    key = make_key(live.settings)
    outcomes: dict[str, int] = {}
    kinds: Counter[str] = Counter()
    with httpx.Client(
        base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        for path in files:
            response = api.post("/files/upload", files={"file": (path.name, path.read_bytes())})
            assert response.status_code in (201, 413, 415), (path.name, response.text)
            outcomes[path.name] = response.status_code
            body = response.json()
            if response.status_code == 201:
                kinds[body["media_type"]] += 1
                assert body["size_bytes"] == path.stat().st_size
            else:
                assert body["error"]["message"], path.name
        # the batch route decides every file the same way
        for start in range(0, len(files), 100):
            chunk = files[start : start + 100]
            response = api.post(
                "/files/upload/batch",
                files=[("files", (p.name, p.read_bytes())) for p in chunk],
            )
            assert response.status_code == 201, response.text
            for path, result in zip(chunk, response.json()["results"], strict=True):
                stored = "error" not in result
                assert stored == (outcomes[path.name] == 201), (path.name, result)
    stored_count = sum(1 for status in outcomes.values() if status == 201)
    assert stored_count > len(files) // 2  # most of the corpus is real images
    assert kinds["image"] > 0


def test_every_stored_corpus_file_is_processed_to_a_terminal_state(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Through the pipeline: decoders, variants, OCR and descriptions on hostile input.

    Each stored file ends ``completed``, or ``failed`` as a ``validation`` or ``resource_limit``
    error (a file that cannot be decoded, or one over the pixel cap): never ``unknown`` (an
    internal error), a stuck job or a dead worker.
    """
    files = corpus_files()
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("corpus-pipeline")),
            workers=2,
            job_poll_seconds=0.1,
        )
    )
    try:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api:
            ids: dict[str, str] = {}
            for path in files:
                response = api.post("/files/upload", files={"file": (path.name, path.read_bytes())})
                if response.status_code == 201:
                    ids[path.name] = response.json()["image_id"]
            outcomes: Counter[str] = Counter()
            for name, file_id in ids.items():
                status = wait_until_terminal_sync(api, file_id, timeout=300)
                if status["status"] == "completed":
                    outcomes["completed"] += 1
                    continue
                assert status["description_error_type"] in ("validation", "resource_limit"), (
                    name,
                    status,
                )
                assert status["description_error"], name
                outcomes[status["description_error_type"]] += 1
            # the workers are alive and well after all of it
            good = api.post("/files/upload", files={"file": ("after.png", png_bytes(64, 48))})
            after = wait_until_terminal_sync(api, good.json()["image_id"], timeout=60)
            assert after["status"] == "completed", after
    finally:
        live.stop()
    assert outcomes["completed"] > len(ids) // 2, (dict(outcomes), len(ids))
