"""Chat over the tenant's library: the wire shapes, the server-sent events of a turn, and
retrieval mode (the answer when no language model is configured)."""

from .retrieval import NO_MODEL, Answer, retrieve
from .stream import sse, words

__all__ = ["NO_MODEL", "Answer", "retrieve", "sse", "words"]
