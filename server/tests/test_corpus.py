"""Robustness run over the shared corpus of real-world, often broken or hostile, images.

Every file must end as a stored upload (201) or a documented refusal (415, 413), never a 500 or
a hang, through the single and the batch route alike. The corpus lives beside the repository
(``../shared/corpus``) or at ``$SCOPIX_CORPUS``; where it is absent the test says so and skips.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import httpx
import pytest

from server_support import LiveServer, make_key

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
