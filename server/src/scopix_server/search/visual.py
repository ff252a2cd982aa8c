"""Pictures that look alike: each picture's visual vector (the local classifier's 1,280 pooled
features, unit length), kept with the other vectors under the model ``efficientnet-lite0`` and
the part ``visual``. It is written by processing (the text vectors' step leaves it alone), and
``similar`` ranks pictures by it: at or over ``NEAR_LOOKS`` a picture is a near-duplicate even
where its difference hash disagrees (a crop, a rotation), provided its colours agree too: the
vectors say what a picture shows, so two different drawings of coloured blocks are 0.8-0.94
alike by them, while their colours share a tenth; a copy keeps more than 0.8 of its colours."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Embedding, File, utcnow

__all__ = [
    "LOOKS_FLOOR",
    "NEAR_COLOURS",
    "NEAR_LOOKS",
    "VISUAL_MODEL",
    "VISUAL_PART",
    "replace_visual_vector",
    "same_colours",
    "visual_vector",
]

VISUAL_MODEL = "efficientnet-lite0"
VISUAL_PART = "visual"
# measured on scikit-image's photos: unrelated pictures at most 0.49 apart; a picture and its
# half-size, JPEG q30, mirrored, grey, 10 % and 30 % crops and 90-degree turns 0.875-0.98
NEAR_LOOKS = 0.85
NEAR_COLOURS = 0.8  # ... and this share of their colour histograms in common (a 30 % crop: 0.82)
LOOKS_FLOOR = 0.5  # less alike than this is not "looks like"


def same_colours(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two pictures' recorded colour histograms (``vision.colours``) mostly agree."""
    first, second = (a or {}).get("colours") or [], (b or {}).get("colours") or []
    if not first or len(first) != len(second):
        return False
    return float(np.minimum(np.asarray(first), np.asarray(second)).sum()) >= NEAR_COLOURS


async def replace_visual_vector(
    session: AsyncSession, row: File, vector: npt.NDArray[np.float32]
) -> None:
    """``row``'s visual vector becomes ``vector`` (in the caller's transaction)."""
    await session.execute(
        delete(Embedding).where(Embedding.file_id == row.id, Embedding.model == VISUAL_MODEL)
    )
    await session.execute(
        insert(Embedding).values(
            tenant_id=row.tenant_id,
            file_id=row.id,
            part=VISUAL_PART,
            chunk_index=None,
            model=VISUAL_MODEL,
            dimension=int(vector.shape[0]),
            vector=np.asarray(vector, dtype="<f4").tobytes(),
            created_at=utcnow(),
        )
    )


async def visual_vector(session: AsyncSession, file_id: str) -> npt.NDArray[np.float32] | None:
    stored = await session.scalar(
        select(Embedding.vector)
        .where(Embedding.file_id == file_id, Embedding.model == VISUAL_MODEL)
        .order_by(Embedding.id.desc())
        .limit(1)
    )
    return None if stored is None else np.frombuffer(stored, dtype="<f4").copy()
