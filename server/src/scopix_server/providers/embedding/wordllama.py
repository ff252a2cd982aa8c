"""The ``wordllama`` embedder: a 256-d static word-embedding model inside the wordllama wheel.

Small and fast (no transformer: a text's vector is a weighted mean of its tokens' vectors), and
weaker than MiniLM on paraphrases. Loaded from the package folder with downloads turned off.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .base import Vectors, normalise
from .minilm import ModelUnavailable

__all__ = ["WordLlama"]

WEIGHTS = "weights/l2_supercat_256.safetensors"
WEIGHTS_SHA256 = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"  # 0.4.0.post1


class WordLlama:
    dimension = 256

    def __init__(self) -> None:
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                "the wordllama embedder needs the wordllama package: pip install wordllama "
                "(or choose another with SCOPIX_SERVER_EMBEDDER)"
            )
        folder = Path(next(iter(spec.submodule_search_locations)))
        weights = folder / WEIGHTS
        digest = _sha256(weights)
        if digest != WEIGHTS_SHA256:
            raise ModelUnavailable(
                f"{weights} has SHA-256 {digest}, not the expected {WEIGHTS_SHA256}: "
                "reinstall wordllama"
            )
        from wordllama import WordLlama as Loader

        self._model: Any = Loader.load(dim=self.dimension, cache_dir=folder, disable_download=True)
        self.model = f"wordllama-l2-256-lower@{digest[:12]}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return normalise(_zeros(self.dimension))
        # its vocabulary is case-sensitive: a sign's capitals (OCR) and a query's lowercase
        # words would land far apart (cosine 0.12 against 0.83 for the same words)
        return normalise(self._model.embed([text.lower() for text in texts], norm=True))


def _zeros(dimension: int) -> Any:
    import numpy as np

    return np.zeros((0, dimension), dtype=np.float32)


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing: reinstall wordllama")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
