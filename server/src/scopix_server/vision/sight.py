"""What the local models see in one picture, in one call (made in a work process, where the
models stay loaded between jobs): the likeliest things in it, in plain words, its faces, how
likely it is to be explicit, and its visual vector for finding similar pictures."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .classifier import Classifier
from .faces import Face, FaceFinder
from .imagenet import imagenet_classes
from .safety import SafetyScorer

__all__ = ["Sight", "colour_histogram", "concepts_of", "labels_of", "see"]

_LABELS = 5  # classes kept, at most
_LABEL_FLOOR = 0.05  # ... each with at least this probability
_CONCEPT_FLOOR = 0.15  # a plain word is kept when its classes together reach this


@dataclass(frozen=True)
class Sight:
    labels: list[tuple[str, float]]  # class names, likeliest first
    concepts: list[tuple[str, float]]  # names and plain words, with their summed probability
    faces: list[Face]
    safety: float | None  # 0-1: the probability the picture is explicit
    features: np.ndarray[Any, np.dtype[np.float32]] | None = field(default=None, repr=False)
    colours: list[float] = field(default_factory=list, repr=False)  # colour_histogram()

    def to_json(self) -> dict[str, Any]:
        """What is recorded on the file (the vector is stored with the other vectors)."""
        return {
            "labels": [{"label": name, "confidence": p} for name, p in self.labels],
            "concepts": [{"word": word, "score": p} for word, p in self.concepts],
            "faces": [face.to_json() for face in self.faces],
            "safety_score": self.safety,
            "colours": self.colours,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Sight:
        faces = [
            Face(
                x=float(f["bbox"]["x"]),
                y=float(f["bbox"]["y"]),
                width=float(f["bbox"]["width"]),
                height=float(f["bbox"]["height"]),
                confidence=float(f["confidence"]),
            )
            for f in stored.get("faces") or []
        ]
        safety = stored.get("safety_score")
        return cls(
            labels=[(str(x["label"]), float(x["confidence"])) for x in stored.get("labels") or []],
            concepts=[(str(x["word"]), float(x["score"])) for x in stored.get("concepts") or []],
            faces=faces,
            safety=None if safety is None else float(safety),
            colours=[float(share) for share in stored.get("colours") or []],
        )

    @classmethod
    def recorded(cls, stored: dict[str, Any] | None) -> Sight | None:
        """What was recorded on a file: None where the models did not look, or failed
        (``{"error": ...}``)."""
        if stored is None or "error" in stored:
            return None
        return cls.from_json(stored)

    def score(self, word: str) -> float:
        return next((p for w, p in self.concepts if w == word), 0.0)


def concepts_of(probabilities: np.ndarray[Any, Any]) -> list[tuple[str, float]]:
    """Each class's name and plain words with the summed probability of the classes under them
    (three kinds of cat at 0.3 each make a "cat" at 0.9)."""
    classes = imagenet_classes()
    totals: dict[str, float] = {}
    for index in np.argsort(-probabilities)[:50]:
        p = float(probabilities[index])
        known = classes[int(index)]
        for word in dict.fromkeys((known.name, *known.words)):
            totals[word] = totals.get(word, 0.0) + p
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [(word, round(min(p, 1.0), 3)) for word, p in ranked if p >= _CONCEPT_FLOOR]


COLOUR_BINS = 4  # per channel: 64 bins


def colour_histogram(image: Image.Image) -> list[float]:
    """The share of the picture's pixels in each of 64 colour bins (4 levels of red, green and
    blue): what a crop, a turn or a re-encoding keeps and two different pictures rarely share."""
    small = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int32)
    levels = small * COLOUR_BINS // 256
    index = (levels[..., 0] * COLOUR_BINS + levels[..., 1]) * COLOUR_BINS + levels[..., 2]
    counts = np.bincount(index.ravel(), minlength=COLOUR_BINS**3)
    return [round(float(share), 4) for share in counts / counts.sum()]


def labels_of(probabilities: np.ndarray[Any, Any]) -> list[tuple[str, float]]:
    """The likeliest class names (classes of one name, two kinds of rocket, counted as one)."""
    classes = imagenet_classes()
    totals: dict[str, float] = {}
    for index in np.argsort(-probabilities)[:20]:
        name = classes[int(index)].name
        totals[name] = totals.get(name, 0.0) + float(probabilities[index])
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:_LABELS]
    return [(name, round(p, 3)) for name, p in ranked if p >= _LABEL_FLOOR]


class _Models:
    """The models of this process, loaded on first use and kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._classifier: Classifier | None = None
        self._safety: SafetyScorer | None = None
        self._faces: dict[bool, FaceFinder] = {}

    def classifier(self) -> Classifier:
        with self._lock:
            if self._classifier is None:
                self._classifier = Classifier()
            return self._classifier

    def safety(self) -> SafetyScorer:
        with self._lock:
            if self._safety is None:
                self._safety = SafetyScorer()
            return self._safety

    def faces(self, descriptors: bool) -> FaceFinder:
        with self._lock:
            if descriptors not in self._faces:
                self._faces[descriptors] = FaceFinder(descriptors=descriptors)
            return self._faces[descriptors]


_MODELS = _Models()


def see(image: Image.Image, *, descriptors: bool = False) -> Sight:
    """Everything the local models find in an upright RGB image. With ``descriptors``, each
    face carries its descriptor (people grouping); without, none is computed."""
    classified = _MODELS.classifier()(image)
    return Sight(
        labels=labels_of(classified.probabilities),
        concepts=concepts_of(classified.probabilities),
        faces=_MODELS.faces(descriptors)(image),
        safety=_MODELS.safety()(image),
        features=classified.features,
        colours=colour_histogram(image),
    )
