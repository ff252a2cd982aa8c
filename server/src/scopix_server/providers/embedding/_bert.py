"""A BERT encoder's forward pass in numpy, for inference only (no dropout, no gradients).

Every function is pure over read-only weights, so one set of weights serves any number
of threads. The arithmetic follows Hugging Face's ``BertModel`` in float32 (post-norm
layers, GELU with erf, additive padding mask), which keeps its vectors within float32
rounding of the PyTorch model's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Embeddings", "Layer", "Weights", "encode", "gelu", "layer_norm", "mean_pool"]

Array = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7 for erf, below float32's own rounding of the
# values it feeds, and it needs only exp; the tanh form of GELU is off by up to 1e-3.
_P = np.float32(0.3275911)
_A = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]
_SQRT_HALF = np.float32(0.7071067811865476)
# The padding mask's bias: large enough that exp() of it is exactly 0, finite so that no
# inf - inf turns a row into NaN.
_MASKED = np.float32(-1e9)
_SCORES = 1 << 21  # attention scores held at once (8 MB)
_ROWS = 2048  # token rows per feed-forward step (12 MB per intermediate array)


@dataclass(frozen=True)
class Embeddings:
    words: Array  # (vocabulary, hidden)
    positions: Array  # (max positions, hidden)
    token_type: Array  # (hidden,): row 0 of the token-type table; one sentence has type 0
    norm_weight: Array
    norm_bias: Array


@dataclass(frozen=True)
class Layer:
    # Dense weights are stored as PyTorch's Linear does, (out, in): used transposed.
    query: Array
    query_bias: Array
    key: Array
    key_bias: Array
    value: Array
    value_bias: Array
    attention_out: Array
    attention_out_bias: Array
    attention_norm_weight: Array
    attention_norm_bias: Array
    intermediate: Array
    intermediate_bias: Array
    output: Array
    output_bias: Array
    output_norm_weight: Array
    output_norm_bias: Array


@dataclass(frozen=True)
class Weights:
    embeddings: Embeddings
    layers: tuple[Layer, ...]
    heads: int
    eps: float


def layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    scaled: Array = centred / np.sqrt(variance + np.float32(eps))
    return scaled * weight + bias


def _erf(x: Array) -> Array:
    # In place where it can be: fewer temporaries of the (tokens, 1536) activations.
    a = np.abs(x)
    t = _P * a
    t += np.float32(1)
    np.reciprocal(t, out=t)
    poly: Array = _A[0] * t
    for coefficient in _A[1:]:
        poly += coefficient
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1), poly, out=poly)
    np.copysign(poly, x, out=poly)
    return poly


def gelu(x: Array) -> Array:
    """BERT's exact GELU, ``x * Φ(x)`` with Φ written through erf."""
    phi = _erf(x * _SQRT_HALF)
    phi += np.float32(1)
    phi *= np.float32(0.5)
    phi *= x
    return phi


def _dense(x: Array, weight: Array, bias: Array) -> Array:
    # One (batch * tokens, in) GEMM: numpy would otherwise run one small GEMM per text,
    # which is about 1.6 times slower. weight.T is a view: BLAS reads it transposed.
    flat = x.reshape(-1, x.shape[-1]) @ weight.T
    flat += bias
    shaped: Array = flat.reshape(*x.shape[:-1], weight.shape[0])
    return shaped


def _split_heads(x: Array, batch: int, heads: int) -> Array:
    # (batch, tokens, hidden) -> (batch, heads, tokens, head size)
    split: Array = x.reshape(batch, -1, heads, x.shape[-1] // heads).transpose(0, 2, 1, 3)
    return split


def _attention(x: Array, mask_bias: Array, layer: Layer, heads: int, eps: float) -> Array:
    """The attention sub-layer, residual and norm included, for a few texts."""
    batch, tokens, hidden = x.shape
    q = _split_heads(_dense(x, layer.query, layer.query_bias), batch, heads)
    k = _split_heads(_dense(x, layer.key, layer.key_bias), batch, heads)
    v = _split_heads(_dense(x, layer.value, layer.value_bias), batch, heads)
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= np.float32(1 / np.sqrt(hidden // heads))
    scores += mask_bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
    out = _dense(context, layer.attention_out, layer.attention_out_bias)
    out += x
    return layer_norm(out, layer.attention_norm_weight, layer.attention_norm_bias, eps)


def _feed_forward(x: Array, layer: Layer, eps: float) -> Array:
    """The feed-forward sub-layer, residual and norm included, for a block of token rows."""
    inner = gelu(_dense(x, layer.intermediate, layer.intermediate_bias))
    out = _dense(inner, layer.output, layer.output_bias)
    out += x
    return layer_norm(out, layer.output_norm_weight, layer.output_norm_bias, eps)


def _in_slices(
    step: int, f: Callable[..., Array], sliced: tuple[Array, ...], *rest: object
) -> Array:
    """``f`` over slices of ``step`` rows of the ``sliced`` arrays, joined again."""
    # A batch that fits in one slice is not copied: slicing costs 5-10% on short texts.
    if len(sliced[0]) <= step:
        return f(*sliced, *rest)
    parts = range(0, len(sliced[0]), step)
    return np.concatenate([f(*(a[s : s + step] for a in sliced), *rest) for s in parts])


def encode(ids: Ids, mask: Ids, weights: Weights) -> Array:
    """Last hidden states, (batch, tokens, hidden), of right-padded ``ids`` (mask 1 = token)."""
    e, heads, eps = weights.embeddings, weights.heads, weights.eps
    tokens = ids.shape[1]
    x = e.words[ids] + e.positions[:tokens] + e.token_type
    x = layer_norm(x, e.norm_weight, e.norm_bias, eps)
    # (batch, 1, 1, tokens): every query of every head ignores the padding keys.
    mask_bias = np.where(mask[:, None, None, :] > 0, np.float32(0), _MASKED).astype(np.float32)
    # The scores (heads x tokens x tokens per text) and the (tokens, intermediate) activations
    # are computed a slice at a time, so that memory stays a few MB above the hidden states
    # however long the texts or large the batch; the slices are still large enough for BLAS.
    texts = max(1, _SCORES // (heads * tokens * tokens))
    for layer in weights.layers:
        x = _in_slices(texts, _attention, (x, mask_bias), layer, heads, eps)
        flat = _in_slices(_ROWS, _feed_forward, (x.reshape(-1, x.shape[-1]),), layer, eps)
        x = flat.reshape(x.shape)
    return x


def mean_pool(hidden: Array, mask: Ids) -> Array:
    """Mean over each row's real tokens (sentence-transformers' mean pooling)."""
    weight = mask.astype(np.float32)[:, :, None]
    counts = np.maximum(weight.sum(axis=1), np.float32(1e-9))
    pooled: Array = (hidden * weight).sum(axis=1) / counts
    return pooled
