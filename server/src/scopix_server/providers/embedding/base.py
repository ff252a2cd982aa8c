"""What an embedder is: texts in, one unit-length vector per text out.

Every vector is stored with the embedder's ``model`` (its name and a short digest of its
weights or endpoint), so vectors of two models are never compared with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "LocalModel", "Vectors", "normalise"]

Vectors = npt.NDArray[np.float32]  # shape (n, dimension), each row of length 1 (or all zeros)


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to length 1 (a row of zeros stays zeros), as float32."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Vectors = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return out


class LocalModel(Protocol):
    """A model that runs in this process (blocking; the caller runs it in a thread)."""

    model: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit-length float32 row per text, in order."""
        ...


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """The setting's value: minilm, wordllama, openai."""
        ...

    @property
    def model(self) -> str:
        """Recorded with each vector: the model's name and a digest of its weights or endpoint."""
        ...

    @property
    def dimension(self) -> int:
        """Numbers per vector (0 until an endpoint has answered once)."""
        ...

    async def start(self) -> None:
        """Load what the embedder needs (at server start: a missing model stops the start)."""
        ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit-length row per text; raise ``StepError`` (classified) on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections or threads (called once, when the server stops)."""
        ...
