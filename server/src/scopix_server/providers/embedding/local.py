"""A model that runs in this process, behind the async ``Embedder`` interface.

The model is loaded once per process (``start``) and shared by every app in it. Encoding runs
in a worker thread, one call at a time: numpy's BLAS already uses the cores, and two batches at
once would only slow each other. Jobs send small batches, so a search waits little behind them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

import anyio
import anyio.to_thread

from ...processing import StepError
from .base import LocalModel, Vectors

__all__ = ["LocalEmbedder", "shared_model"]

_lock = threading.Lock()


_models: dict[str, LocalModel] = {}


def shared_model(name: str, load: Callable[[], LocalModel]) -> LocalModel:
    """The process's one instance of the model ``name`` (loaded on first call)."""
    # the hub libraries that tokenizers and wordllama import never go online from here
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with _lock:
        if name not in _models:
            _models[name] = load()
        return _models[name]


class LocalEmbedder:
    def __init__(self, name: str, load: Callable[[], LocalModel]) -> None:
        self.name = name
        self._load = load
        self._model: LocalModel | None = None
        self._busy = anyio.Lock()

    async def start(self) -> None:
        if self._model is None:
            self._model = await anyio.to_thread.run_sync(shared_model, self.name, self._load)

    def _ready(self) -> LocalModel:
        if self._model is None:
            raise RuntimeError(f"the {self.name} embedder was not started")
        return self._model

    @property
    def model(self) -> str:
        return self._ready().model

    @property
    def dimension(self) -> int:
        return self._ready().dimension

    async def embed(self, texts: Sequence[str]) -> Vectors:
        model = self._ready()
        async with self._busy:
            try:
                return await anyio.to_thread.run_sync(model.encode, list(texts))
            except MemoryError:
                raise StepError(
                    f"the {self.name} embedder ran out of memory",
                    "resource_limit",
                    step="embedding",
                ) from None

    async def aclose(self) -> None:
        return None
