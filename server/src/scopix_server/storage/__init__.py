"""Object storage behind one protocol; chosen by ``SCOPIX_SERVER_STORAGE_URL``."""

from __future__ import annotations

from urllib.parse import urlsplit
from urllib.request import url2pathname

from .base import DERIVED_PREFIX, PendingObject, StorageBackend, derived_key, file_of_derived
from .local import LocalStorage

__all__ = [
    "DERIVED_PREFIX",
    "LocalStorage",
    "PendingObject",
    "StorageBackend",
    "derived_key",
    "file_of_derived",
    "open_storage",
]


def open_storage(url: str) -> StorageBackend:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(url2pathname(parts.path))
    raise ValueError(
        f"unsupported storage URL {url!r}: use file:///path (S3 storage comes with s3://bucket)"
    )
