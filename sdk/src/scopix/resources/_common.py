"""What the resources share: form fields, argument checks and the counting file wrapper."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..types.enums import StorageTarget
from ..types.events import UploadProgressEvent

__all__ = [
    "Counting",
    "UploadProgress",
    "choice",
    "direct_fields",
    "form_fields",
    "is_many",
    "path_id",
]

UploadProgress = Callable[[UploadProgressEvent], object]


def form_fields(
    *,
    title: str | None,
    tags: Sequence[str] | None,
    folder_id: str | None,
    auto_describe: bool,
    skip_duplicates: bool,
    storage_target: StorageTarget | str,
    content_category: str,
) -> dict[str, str]:
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, e.g. tags=['beach', 'sunset']")
    fields = {
        "auto_describe": "true" if auto_describe else "false",
        "skip_duplicates": "true" if skip_duplicates else "false",
        "storage_target": StorageTarget(storage_target).value,
        "content_category": content_category,
    }
    if title is not None:
        fields["title"] = title
    if tags:
        bad = [tag for tag in tags if "," in tag]
        if bad:
            raise ValueError(f"a tag cannot contain a comma: {bad[0]!r}")
        fields["tags"] = ",".join(tags)
    if folder_id is not None:
        fields["folder_id"] = folder_id
    return fields


def direct_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The upload form fields as the JSON body of ``POST /files/direct-uploads``."""
    body: dict[str, Any] = {
        "auto_describe": fields["auto_describe"] == "true",
        "skip_duplicates": fields["skip_duplicates"] == "true",
        "storage_target": fields["storage_target"],
        "content_category": fields["content_category"],
    }
    if "title" in fields:
        body["title"] = fields["title"]
    if "tags" in fields:
        body["tags"] = fields["tags"].split(",")
    if "folder_id" in fields:
        body["folder_id"] = fields["folder_id"]
    return body


def choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def is_many(file: object) -> bool:
    """A list of files, or a directory: the batch path."""
    if isinstance(file, (list, tuple)):
        return True
    return isinstance(file, (str, os.PathLike)) and Path(file).is_dir()


def path_id(file_id: str) -> str:
    """A file id that is safe in a URL path (ids are UUIDs; anything else is refused here)."""
    if not isinstance(file_id, str) or not file_id or "/" in file_id or "?" in file_id:
        raise ValueError(f"not a file id: {file_id!r}")
    return file_id


class Counting:
    """A file object that reports how much of it was read (the upload's progress)."""

    def __init__(
        self, stream: Any, index: int, filename: str, total: int | None, report: UploadProgress
    ) -> None:
        self._stream = stream
        self._index = index
        self._filename = filename
        self._total = total or 0
        self._report = report
        self._sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._stream.read(size)
        if chunk:
            self._sent += len(chunk)
            self._report(UploadProgressEvent(self._index, self._sent, self._total, self._filename))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        position: int = self._stream.seek(offset, whence)
        if whence == 0 and offset == 0:
            self._sent = 0  # a retry starts the count again
        return position

    def tell(self) -> int:
        position: int = self._stream.tell()
        return position
