"""Search: lexical indexes, vectors, and their fusion into one ranking."""

from __future__ import annotations

from .lexical import MODES, ChunkMatch, FileMatch, ranked_chunks, ranked_files, search_filter
from .ranking import fuse
from .vectors import MatrixIndex, PgVectorIndex, VectorHit, VectorIndex, open_index

__all__ = [
    "MODES",
    "ChunkMatch",
    "FileMatch",
    "MatrixIndex",
    "PgVectorIndex",
    "VectorHit",
    "VectorIndex",
    "fuse",
    "open_index",
    "ranked_chunks",
    "ranked_files",
    "search_filter",
]
