"""Reciprocal rank fusion: one ranking from several, by the ranks alone.

Each list gives an item ``1 / (K + rank)``; an item's score is the sum over the lists it is in.
Ranks, not scores, are fused, so BM25 numbers and cosine similarities never have to be put on
one scale. ``K = 60`` is the constant of the method's paper: it keeps one list's first place
from outweighing agreement between lists.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["K", "fuse"]

K = 60
T = TypeVar("T", bound=Hashable)


def fuse(rankings: Sequence[Sequence[T]], *, k: int = K) -> list[tuple[T, float]]:
    """Items of every ranking, best first, with a score in (0, 1].

    The score is the fused sum divided by its largest possible value (first in every list), so
    an item first everywhere scores 1. Ties keep the order of first appearance.
    """
    totals: dict[T, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            totals[item] = totals.get(item, 0.0) + 1.0 / (k + rank)
    if not totals:
        return []
    best = len(rankings) / (k + 1)
    ordered = sorted(totals.items(), key=lambda pair: -pair[1])  # (stable: ties keep order)
    return [(item, score / best) for item, score in ordered]
