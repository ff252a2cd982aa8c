"""How the vision models run on ONNX Runtime: on the CPU, one thread each (a worker runs
several jobs side by side), quiet, and without a memory arena (an arena keeps its peak for the
life of the process)."""

from __future__ import annotations

from typing import Any

__all__ = ["onnx_session"]


def onnx_session(model: bytes | str) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``model`` (its bytes, or a file's path)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
