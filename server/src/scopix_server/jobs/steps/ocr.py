"""Text in images with RapidOCR (its models ship inside the wheel: nothing is downloaded).

Contract: ``read_text(image, page=None, detect_side=...)`` takes an upright RGB image and returns
the text in reading order and one ``text_regions`` entry per detected line, every coordinate
normalised to 0-1 of the image (origin top-left), exactly as API.md §4 describes. It writes
nothing. Engines are pooled: each call borrows one, so concurrent calls never share an engine.
In a work process (``isolation``), a call first waits for its turn under the server's memory
budget.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ...processing import StepError
from ..isolation import memory_gate

__all__ = ["DETECT_SIDE", "OcrResult", "ocr_cost", "read_text", "reading_order"]

logger = logging.getLogger("scopix_server.ocr")


@dataclass(frozen=True)
class OcrResult:
    text: str
    regions: list[dict[str, Any]]


# Text in photos is found on a copy at most this many pixels long (the detector's memory grows
# with its input: about 650 MB at 2000 px, 360 MB at 1280, 230 MB at 1024; small photos are
# not enlarged), then read from the image itself. On a 2048-pixel image of small print, 1024
# read as well as 1280 down to 14-pixel type (33 of 34 lines in 12-pixel type, 1280: 34; at
# 960, lines came out wrong in 18-pixel type). Document pages (``detect_side=None``) keep the
# engine's own setting, which enlarges a page to 736 pixels on its short side and shrinks
# nothing: small print needs every pixel ("Invoice 2026-0412" ran together at 1280).
DETECT_SIDE = 1024
_PAGE_MIN_SIDE = 736  # RapidOCR's default detector setting
# Bytes the detector holds per pixel of its input, at its peak (measured, with some margin).
_DETECT_BYTES_PER_PIXEL = 220


def ocr_cost(size: tuple[int, int], detect_side: int | None = DETECT_SIDE) -> int:
    """Estimated peak bytes of ``read_text`` on an image of ``size``, above the loaded engine."""
    width, height = size
    if detect_side:
        scale = min(1.0, detect_side / max(1, width, height))
    else:
        scale = max(1.0, _PAGE_MIN_SIDE / max(1, min(width, height)))
    return int(width * height * scale * scale * _DETECT_BYTES_PER_PIXEL)


def _new_engine(detect_side: int | None) -> Any:
    try:
        from rapidocr import RapidOCR
    except ImportError as error:  # pragma: no cover - a dependency of the server
        raise StepError(f"OCR is not available: {error}", "unknown", step="ocr") from None
    params: dict[str, Any] = {
        "Global.log_level": "error",
        # one thread per engine: the worker pool gives the parallelism
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    if detect_side:
        params.update({"Det.limit_type": "max", "Det.limit_side_len": detect_side})
    return RapidOCR(params=params)


# Idle engines, by detector setting (a page engine is loaded only once a page is OCR'd).
_idle: dict[int | None, queue.SimpleQueue[Any]] = {}


@contextmanager
def _engine(detect_side: int | None) -> Iterator[Any]:
    """Borrow an engine: one per concurrent caller, reused whatever thread asks next.

    (Keyed by thread, a pool of short-lived threads would keep loading new engines.)
    """
    idle = _idle.setdefault(detect_side, queue.SimpleQueue())
    try:
        engine = idle.get_nowait()
    except queue.Empty:
        engine = _new_engine(detect_side)
    try:
        yield engine
    finally:
        idle.put(engine)


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 6)


def reading_order(regions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group regions into lines (overlapping vertically), top to bottom, each left to right."""
    lines: list[list[dict[str, Any]]] = []
    for region in sorted(regions, key=lambda r: (r["bbox"]["y"], r["bbox"]["x"])):
        box = region["bbox"]
        middle = box["y"] + box["height"] / 2
        if lines:
            last = lines[-1]
            top = min(r["bbox"]["y"] for r in last)
            bottom = max(r["bbox"]["y"] + r["bbox"]["height"] for r in last)
            if top <= middle <= bottom:
                last.append(region)
                continue
        lines.append([region])
    return [sorted(line, key=lambda r: r["bbox"]["x"]) for line in lines]


def read_text(
    image: Image.Image, *, page: int | None = None, detect_side: int | None = DETECT_SIDE
) -> OcrResult:
    """``detect_side``: text is found on a copy at most this long (None: a document page)."""
    width, height = image.size
    gate = memory_gate()  # in a work process: OCR waits for its turn like a large decode
    cost = ocr_cost(image.size, detect_side)
    try:
        with gate.hold(cost) if gate else nullcontext(), _engine(detect_side) as engine:
            output = engine(np.asarray(image))
    except StepError:
        raise
    except MemoryError:
        raise StepError("not enough memory for OCR", "resource_limit", step="ocr") from None
    except Exception as error:
        logger.exception("OCR failed")
        raise StepError(f"OCR failed ({type(error).__name__})", "unknown", step="ocr") from None
    boxes = getattr(output, "boxes", None)
    texts = getattr(output, "txts", None)
    scores = getattr(output, "scores", None)
    if boxes is None or texts is None or scores is None:
        return OcrResult(text="", regions=[])
    regions: list[dict[str, Any]] = []
    for box, text, score in zip(boxes, texts, scores, strict=False):
        text = str(text).strip()
        if not text:
            continue
        points = [(_clamp(float(x) / width), _clamp(float(y) / height)) for x, y in box]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        regions.append(
            {
                "text": text,
                "confidence": round(min(1.0, max(0.0, float(score))), 4),
                "bbox": {
                    "x": min(xs),
                    "y": min(ys),
                    "width": round(max(xs) - min(xs), 6),
                    "height": round(max(ys) - min(ys), 6),
                },
                "polygon": [[x, y] for x, y in points],
                "page": page,
            }
        )
    lines = reading_order(regions)
    ordered = [region for line in lines for region in line]
    text = "\n".join(" ".join(r["text"] for r in line) for line in lines)
    return OcrResult(text=text, regions=ordered)
