"""EfficientNet-Lite0 (ImageNet, 1,000 classes) on ONNX Runtime, built from its PyTorch weights.

The weights ship as a PyTorch state dict; PyTorch itself is not needed. The network's graph is
written here from the architecture (seven stages of inverted-residual blocks with ReLU6, no
squeeze-excitation), each batch norm folded into the convolution before it, and handed to ONNX
Runtime as an in-memory model. One call gives the class probabilities and the 1,280 pooled
features before the classifier, which serve as the picture's visual vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .runtime import onnx_session
from .torchfile import load_state_dict
from .weights import WEIGHTS, weights_path

__all__ = ["Classifier", "Classified", "model_bytes"]

SIDE = 224  # the network's input
_RESIZE = 256  # the shorter side before the centre crop (the crop keeps 224/256 of it)
# (stride of the first block, blocks) of each stage; kernels and widths come from the weights
_STAGES = ((1, 1), (2, 2), (2, 2), (2, 3), (1, 3), (2, 4), (1, 1))
_EPSILON = 1e-3  # the batch norms' epsilon (TensorFlow's default, kept by the conversion)


@dataclass(frozen=True)
class Classified:
    probabilities: np.ndarray[Any, np.dtype[np.float32]]  # (1000,), summing to 1
    features: np.ndarray[Any, np.dtype[np.float32]]  # (1280,), unit length


def _graph(weights: dict[str, np.ndarray[Any, Any]]) -> bytes:
    from onnx import TensorProto, checker, helper, numpy_helper

    initialisers = [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6.0, np.float32), "six"),
    ]
    nodes = []
    counter = iter(range(1_000_000))

    def constant(array: np.ndarray[Any, Any]) -> str:
        name = f"w{next(counter)}"
        initialisers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(x: str, conv_name: str, norm: str, stride: int, *, depthwise: bool = False,
             relu6: bool = True) -> str:  # fmt: skip
        kernel = weights[f"{conv_name}.weight"]
        scale = weights[f"{norm}.weight"] / np.sqrt(weights[f"{norm}.running_var"] + _EPSILON)
        bias = weights[f"{norm}.bias"] - weights[f"{norm}.running_mean"] * scale
        out = f"c{next(counter)}"
        nodes.append(
            helper.make_node(
                "Conv",
                [x, constant(kernel * scale[:, None, None, None]), constant(bias)],
                [out],
                strides=[stride, stride],
                group=kernel.shape[0] if depthwise else 1,
                kernel_shape=list(kernel.shape[2:]),
                auto_pad="SAME_UPPER",  # TensorFlow's "same": any odd pixel padded at the end
            )
        )
        if not relu6:
            return out
        clipped = f"r{next(counter)}"
        nodes.append(helper.make_node("Clip", [out, "zero", "six"], [clipped]))
        return clipped

    x = conv("image", "_conv_stem", "_bn0", 2)
    block = 0
    for first_stride, count in _STAGES:
        for repeat in range(count):
            name = f"_blocks.{block}"
            stride = first_stride if repeat == 0 else 1
            entering = x
            width_in = weights[f"{name}._depthwise_conv.weight"].shape[0]
            if f"{name}._expand_conv.weight" in weights:
                width_in = weights[f"{name}._expand_conv.weight"].shape[1]
                x = conv(x, f"{name}._expand_conv", f"{name}._bn0", 1)
            x = conv(x, f"{name}._depthwise_conv", f"{name}._bn1", stride, depthwise=True)
            x = conv(x, f"{name}._project_conv", f"{name}._bn2", 1, relu6=False)
            if stride == 1 and width_in == weights[f"{name}._project_conv.weight"].shape[0]:
                summed = f"a{next(counter)}"
                nodes.append(helper.make_node("Add", [x, entering], [summed]))
                x = summed
            block += 1
    if f"_blocks.{block}._depthwise_conv.weight" in weights:
        raise ValueError("the weights have more blocks than EfficientNet-Lite0")
    x = conv(x, "_conv_head", "_bn1", 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"]))
    fc = [constant(weights["_fc.weight"]), constant(weights["_fc.bias"])]
    nodes.append(helper.make_node("Gemm", ["features", *fc], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, SIDE, SIDE])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1000]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 1280]),
        ],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every ONNX Runtime since 1.14 reads
    checker.check_model(model)
    blob: bytes = model.SerializeToString()
    return blob


def prepare(image: Image.Image) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The network's input for an upright RGB image: its centre square, 224/256 of its shorter
    side (what a resize to 256 then a 224 crop keep, without ever enlarging a long strip),
    at 224x224, scaled as the weights were trained ((value - 127) / 128), channels first."""
    width, height = image.size
    side = max(1, round(min(width, height) * SIDE / _RESIZE))
    left, top = (width - side) // 2, (height - side) // 2
    square = image.convert("RGB").crop((left, top, left + side, top + side))
    resized = square.resize((SIDE, SIDE), Image.Resampling.BICUBIC, reducing_gap=3.0)
    pixels = np.asarray(resized, dtype=np.float32)
    prepared = ((pixels - 127.0) / 128.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(prepared, dtype=np.float32)


_GRAPH_VERSION = 1  # of ``_graph``: a change to it must change this, so caches are rebuilt


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scopix-server"


def model_bytes() -> bytes:
    """The ONNX model of the verified weights: built once, then kept in the user's cache
    (``$XDG_CACHE_HOME/scopix-server``) with its own digest beside it, so that a work process
    starts in a fraction of the time; a cache that cannot be written or does not match its
    digest is simply built again."""
    path = weights_path("efficientnet-lite0")
    name = f"efficientnet-lite0-{WEIGHTS['efficientnet-lite0'].sha256[:16]}-v{_GRAPH_VERSION}"
    cached, digest_file = _cache_folder() / f"{name}.onnx", _cache_folder() / f"{name}.sha256"
    with contextlib.suppress(OSError):
        blob = cached.read_bytes()
        if hashlib.sha256(blob).hexdigest() == digest_file.read_text().strip():
            return blob
    blob = _graph(load_state_dict(path))
    with contextlib.suppress(OSError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        for target, content in (
            (cached, blob),
            (digest_file, hashlib.sha256(blob).hexdigest().encode()),
        ):
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            partial.write_bytes(content)
            partial.replace(target)  # whole or absent, whichever process writes last
    return blob


class Classifier:
    """One ONNX Runtime session (one thread: the worker runs several jobs side by side)."""

    def __init__(self) -> None:
        self._session = onnx_session(model_bytes())

    def __call__(self, image: Image.Image) -> Classified:
        logits, features = self._session.run(["logits", "features"], {"image": prepare(image)})
        shifted = np.exp(logits[0] - logits[0].max())
        vector = features[0].astype(np.float32)
        norm = float(np.linalg.norm(vector)) or 1.0
        return Classified((shifted / shifted.sum()).astype(np.float32), vector / norm)
