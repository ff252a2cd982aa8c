"""The ``openai`` embedder: any OpenAI-compatible ``/v1/embeddings`` endpoint.

That is OpenAI itself and the local servers that speak its protocol (Ollama, vLLM, llama.cpp's
server, LM Studio). The dimension is whatever the model answers; it is recorded with each
vector, and an answer of another dimension than the first is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from ...processing import StepError
from ..llm import model_client, post_json
from .base import Vectors, normalise

__all__ = ["OpenAIEmbedder"]

BATCH = 64  # texts per request (OpenAI takes up to 2,048; local servers like fewer)
MAX_TEXT_CHARS = 8_000  # about 2,000 tokens: within every common embedding model's window


class OpenAIEmbedder:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = model_client(timeout, transport)
        # the same model name on two servers may be two models: the endpoint is part of the id
        where = hashlib.sha256(self._url.encode()).hexdigest()[:8]
        self.model = f"openai:{model}@{where}"[:120]
        self.dimension = 0  # known from the first answer

    def _error(self, message: str) -> StepError:
        return StepError(message, "vlm_error", step="embedding")

    def _vectors(self, answer: dict[str, Any], count: int) -> Vectors:
        data = answer.get("data")
        if not isinstance(data, list) or len(data) != count:
            raise self._error(
                f"the embedding endpoint answered {len(data) if isinstance(data, list) else 'no'} "
                f"vectors for {count} texts"
            )
        rows: list[list[float]] = [[] for _ in range(count)]
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise self._error("the embedding endpoint answered an item that is not an object")
            index = item.get("index", position)
            vector = item.get("embedding")
            if not isinstance(index, int) or not 0 <= index < count or not isinstance(vector, list):
                raise self._error("the embedding endpoint answered an item without a vector")
            rows[index] = vector
        try:
            matrix = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise self._error(f"the embedding endpoint answered vectors that are not numbers: "
                              f"{error}") from None  # fmt: skip
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise self._error("the embedding endpoint answered vectors of unequal length")
        if self.dimension and matrix.shape[1] != self.dimension:
            raise self._error(
                f"the embedding endpoint answered {matrix.shape[1]}-d vectors after "
                f"{self.dimension}-d ones: was the model changed? (set a new model name)"
            )
        self.dimension = int(matrix.shape[1])
        return normalise(matrix)

    async def start(self) -> None:
        return None  # nothing to load; an unreachable endpoint fails the jobs, retried

    async def embed(self, texts: Sequence[str]) -> Vectors:
        out: list[Vectors] = []
        for start in range(0, len(texts), BATCH):
            batch = [text[:MAX_TEXT_CHARS] or " " for text in texts[start : start + BATCH]]
            body = {"model": self._model, "input": batch, "encoding_format": "float"}
            answer = await post_json(
                self._client, self._url, body, headers=self._headers, provider="embedding"
            )
            out.append(self._vectors(answer, len(batch)))
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(out)

    async def aclose(self) -> None:
        await self._client.aclose()
