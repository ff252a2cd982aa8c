"""What ``files.upload`` accepts: a path, bytes, or a binary file object, with its filename."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union, cast

__all__ = ["FileInput", "UploadSource", "source_of"]

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


@dataclass
class UploadSource:
    """One file to send: its name, its size when known, and how to read it."""

    filename: str
    size: int | None
    path: Path | None = None
    data: bytes | None = None
    stream: IO[bytes] | None = None

    def sha256(self) -> str:
        """Hex SHA-256 of the whole file (blocking: run it in a worker thread)."""
        digest = hashlib.sha256()
        with self.open() as stream:
            while chunk := stream.read(8 * 1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    def open(self) -> IO[bytes]:
        """A binary stream at the start of the file (the caller closes what it opens)."""
        if self.path is not None:
            return self.path.open("rb")
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.stream is not None
        if self.stream.seekable():
            self.stream.seek(0)
        return cast("IO[bytes]", _Unclosed(self.stream))


class _Unclosed(io.BufferedIOBase):
    """A view of the caller's file object that leaves it open when the upload closes it."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw

    def read(self, size: int | None = -1, /) -> bytes:
        return self._raw.read(-1 if size is None else size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def source_of(file: FileInput, filename: str | None = None) -> UploadSource:
    """Check ``file`` and name it; raise ``FileNotFoundError``, ``IsADirectoryError`` or
    ``TypeError`` with a message that says what was expected."""
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.exists():
            raise FileNotFoundError(f"no file at {str(path)!r}")
        if path.is_dir():
            raise IsADirectoryError(
                f"{str(path)!r} is a directory: use files.upload_batch() for directories"
            )
        return UploadSource(filename or path.name, path.stat().st_size, path=path)
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        return UploadSource(filename or "upload", len(data), data=data)
    if hasattr(file, "read"):
        if isinstance(cast(object, file), io.TextIOBase):  # (the type hint cannot stop it)
            raise TypeError("open the file in binary mode ('rb'), not text mode")
        name = filename or os.path.basename(str(getattr(file, "name", "") or "")) or "upload"
        size = None
        if file.seekable():
            position = file.tell()
            size = file.seek(0, io.SEEK_END) - position
            file.seek(position)
        return UploadSource(name, size, stream=file)
    raise TypeError(
        f"file must be a path, bytes or a binary file object, not {type(file).__name__}"
    )
