"""Text embedders for search by meaning, chosen by ``SCOPIX_SERVER_EMBEDDER``."""

from __future__ import annotations

from ...settings import Settings
from .base import Embedder, LocalModel, Vectors, normalise
from .local import LocalEmbedder
from .minilm import ModelUnavailable
from .openai import OpenAIEmbedder

__all__ = [
    "Embedder",
    "LocalEmbedder",
    "LocalModel",
    "ModelUnavailable",
    "OpenAIEmbedder",
    "Vectors",
    "build_embedder",
    "normalise",
]


def _minilm() -> LocalModel:
    from .minilm import MiniLM

    return MiniLM()


def _wordllama() -> LocalModel:
    from .wordllama import WordLlama

    return WordLlama()


def build_embedder(settings: Settings) -> Embedder | None:
    """The configured embedder (not yet started), or None for lexical search only."""
    if settings.embedder == "openai":
        return OpenAIEmbedder(
            base_url=settings.resolved_embedding_base_url,
            model=settings.embedding_model,
            api_key=settings.resolved_embedding_api_key,
            timeout=settings.provider_timeout_seconds,
        )
    if settings.embedder == "minilm":
        return LocalEmbedder("minilm", _minilm)
    if settings.embedder == "wordllama":
        return LocalEmbedder("wordllama", _wordllama)
    return None
