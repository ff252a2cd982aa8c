"""Read the tensors of a PyTorch state-dict file into NumPy arrays, without PyTorch.

Only what a state dict holds is accepted: an ordered dict of float tensors. The pickle inside
the file may name nothing else (any other class is refused before it is built), so a hostile
file cannot run code; the raw storages are then read by the sizes the file declares, and a file
cut short, or one that says more than it has, is refused.

Both of PyTorch's formats are read: the older stream (a pickled header, the pickled dict, then
each storage in turn) and the zip archive of ``torch.save`` since 1.6 (``data.pkl`` plus one
entry per storage).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["TorchFileError", "load_state_dict"]

_MAGIC = 0x1950A86A20F9469CFC6C  # the older stream's first pickled value
_DTYPES: dict[str, Any] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


class TorchFileError(ValueError):
    """The file is not a state dict this reader accepts."""


class _StorageKind:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype[Any], count: int) -> None:
        self.dtype = dtype
        self.count = count
        self.data: np.ndarray[Any, Any] | None = None


class _Tensor:
    def __init__(
        self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride

    def array(self) -> np.ndarray[Any, Any]:
        data = self.storage.data
        if data is None:
            raise TorchFileError("a tensor's storage is missing from the file")
        steps = zip(self.shape, self.stride, strict=True)
        reach = self.offset + sum((n - 1) * s for n, s in steps)
        outside = all(self.shape) and reach >= len(data)
        if self.offset < 0 or outside or min(self.stride, default=0) < 0:
            raise TorchFileError("a tensor reaches outside its storage")
        if not all(self.shape):
            return np.zeros(self.shape, dtype=data.dtype)
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.shape, tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)  # a compact copy of its own


def _rebuild_tensor(
    storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise TorchFileError("a tensor without a storage")
    return _Tensor(storage, int(offset), tuple(map(int, shape)), tuple(map(int, stride)))


class _Unpickler(pickle.Unpickler):
    """Builds the dict and its tensors only; every other class is refused."""

    def __init__(self, stream: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(stream)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageKind(name)
        raise TorchFileError(f"the file names {module}.{name}, which a state dict never holds")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise TorchFileError("an unknown kind of stored object")
        kind, key, count = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(kind, _StorageKind) or count < 0:
            raise TorchFileError("a storage of an unknown type")
        if key not in self._storages:
            self._storages[key] = _Storage(kind.dtype, count)
        return self._storages[key]


def _tensors(state: Any) -> dict[str, np.ndarray[Any, Any]]:
    if not isinstance(state, dict):
        raise TorchFileError("the file does not hold a state dict")
    arrays = {}
    for name, tensor in state.items():
        if not isinstance(tensor, _Tensor):
            raise TorchFileError(f"{name!r} is not a tensor")
        arrays[str(name)] = tensor.array()
    return arrays


def _read_stream(stream: IO[bytes]) -> dict[str, np.ndarray[Any, Any]]:
    plain = _Unpickler(stream, {})  # the header: plain values only
    if plain.load() != _MAGIC:
        raise TorchFileError("not a PyTorch file")
    plain.load()  # protocol version
    plain.load()  # the saving system's facts
    storages: dict[str, _Storage] = {}
    state = _Unpickler(stream, storages).load()
    for key in _Unpickler(stream, {}).load():
        storage = storages.get(str(key))
        head = stream.read(8)
        if storage is None or len(head) != 8:
            raise TorchFileError("the file's storages do not match its tensors")
        (count,) = struct.unpack("<q", head)
        size = count * storage.dtype.itemsize
        raw = stream.read(size)
        if count != storage.count or len(raw) != size:
            raise TorchFileError("the file is cut short")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _tensors(state)


def _read_zip(archive: zipfile.ZipFile) -> dict[str, np.ndarray[Any, Any]]:
    names = archive.namelist()
    pickled = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
    if len(pickled) != 1:
        raise TorchFileError("the archive holds no single data.pkl")
    root = pickled[0][: -len("data.pkl")]
    storages: dict[str, _Storage] = {}
    state = _Unpickler(io.BytesIO(archive.read(pickled[0])), storages).load()
    for key, storage in storages.items():
        try:
            raw = archive.read(f"{root}data/{key}")
        except KeyError:
            raise TorchFileError(f"storage {key} is missing from the archive") from None
        if len(raw) != storage.count * storage.dtype.itemsize:
            raise TorchFileError(f"storage {key} has the wrong size")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _tensors(state)


def load_state_dict(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The named arrays of the state dict saved in ``path``."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _read_zip(archive)
        with path.open("rb") as stream:
            return _read_stream(stream)
    except TorchFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as error:
        raise TorchFileError(f"{path.name} is not a readable state dict: {error}") from error
