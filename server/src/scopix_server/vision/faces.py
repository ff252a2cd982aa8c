"""Faces: where they are (dlib's HOG detector, no model file), and with people grouping on, a
128-number descriptor of each (dlib's ResNet, from face-recognition-models): two faces of one
person lie closer than 0.6 apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .weights import weights_path

__all__ = ["Face", "FaceFinder"]

_SIDE = 1024  # faces are looked for at this size at most (about 40 ms at 1024 on one core)
_MIN_SCORE = 0.3  # the detector's own score; below it patterns of clothing pass for faces


@dataclass(frozen=True)
class Face:
    x: float  # normalised 0-1, origin top-left, like text regions
    y: float
    width: float
    height: float
    confidence: float  # 0-1, from the detector's score
    descriptor: tuple[float, ...] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "bbox": {"x": self.x, "y": self.y, "width": self.width, "height": self.height},
            "confidence": self.confidence,
        }


class FaceFinder:
    def __init__(self, *, descriptors: bool) -> None:
        import dlib

        self._detect = dlib.get_frontal_face_detector()
        self._landmarks: Any = None
        self._describe: Any = None
        if descriptors:
            self._landmarks = dlib.shape_predictor(str(weights_path("face-landmarks-5")))
            self._describe = dlib.face_recognition_model_v1(str(weights_path("face-descriptor")))
        self._dlib = dlib

    def __call__(self, image: Image.Image) -> list[Face]:
        scale = min(1.0, _SIDE / max(image.size))
        work = image.convert("RGB")
        if scale < 1.0:
            work = work.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
        pixels = np.ascontiguousarray(np.asarray(work, dtype=np.uint8))
        # small pictures are looked at twice as large, so that faces of 40 pixels are found
        upsample = 1 if max(work.size) <= 640 else 0
        boxes, scores, _kinds = self._detect.run(pixels, upsample, _MIN_SCORE)
        width, height = work.size
        faces = []
        for box, score in sorted(zip(boxes, scores, strict=True), key=lambda pair: -pair[1]):
            left, top = max(0, box.left()), max(0, box.top())
            right, bottom = min(width, box.right()), min(height, box.bottom())
            if right <= left or bottom <= top:
                continue
            descriptor = None
            if self._describe is not None:
                shape = self._landmarks(pixels, box)
                values = self._describe.compute_face_descriptor(pixels, shape)
                descriptor = tuple(round(float(v), 5) for v in values)
            faces.append(
                Face(
                    x=round(left / width, 4),
                    y=round(top / height, 4),
                    width=round((right - left) / width, 4),
                    height=round((bottom - top) / height, 4),
                    # the score is a margin, about 0.3-3; squashed to 0-1
                    confidence=round(float(1 / (1 + np.exp(-2 * (score - 0.5)))), 3),
                    descriptor=descriptor,
                )
            )
        return faces
