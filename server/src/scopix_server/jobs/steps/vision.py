"""The local vision models on a decoded image (in a work process, where they stay loaded).

A picture is looked at no larger than 1,024 pixels (the classifier takes 224, faces are found
at up to 1,024); a failure of the models is a classified ``StepError`` of step ``vision``, and
the rest of the file's processing stands without it.
"""

from __future__ import annotations

import logging

from PIL import Image

from ...processing import StepError
from ...vision import ModelUnavailable, Sight, see
from .variants import fitted

__all__ = ["LOOK_SIDE", "look"]

logger = logging.getLogger("scopix_server.vision")

LOOK_SIDE = 1024


def look(image: Image.Image, *, descriptors: bool) -> Sight:
    small = fitted(image, LOOK_SIDE, Image.Resampling.BILINEAR)
    try:
        return see(small.convert("RGB"), descriptors=descriptors)
    except ModelUnavailable as error:
        raise StepError(str(error), "unknown", step="vision") from None
    except MemoryError:
        raise
    except Exception as error:  # a model that fails on one picture: the file goes on without
        logger.exception("the vision models failed on a picture")
        raise StepError(f"the vision models failed: {error}", "unknown", step="vision") from None
