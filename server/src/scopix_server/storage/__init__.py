"""Object storage behind one protocol; chosen by ``SCOPIX_SERVER_STORAGE_URL``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .base import DERIVED_PREFIX, PendingObject, StorageBackend, derived_key, file_of_derived
from .local import LocalStorage

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "DERIVED_PREFIX",
    "LocalStorage",
    "PendingObject",
    "StorageBackend",
    "derived_key",
    "file_of_derived",
    "open_storage",
]


def open_storage(url: str, settings: Settings | None = None) -> StorageBackend:
    """The backend for ``url``: ``file:///path``, or ``s3://bucket/prefix`` (with the S3
    settings; uploads in flight are spooled under ``<data_dir>/s3-spool``)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(url2pathname(parts.path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket: use s3://bucket/prefix")
        from ..settings import Settings as _Settings
        from .s3 import S3Settings, S3Storage

        options = settings or _Settings()
        return S3Storage(
            S3Settings(
                bucket=parts.netloc,
                prefix=parts.path,
                endpoint_url=options.s3_endpoint_url,
                region=options.s3_region,
                access_key_id=options.s3_access_key_id,
                secret_access_key=options.s3_secret_access_key,
                addressing_style=options.s3_addressing_style,
            ),
            spool=options.data_dir / "s3-spool",
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")
