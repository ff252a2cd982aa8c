"""Objects in an S3 bucket (AWS S3 or any S3-compatible server), through boto3 in threads.

An upload is spooled to a local temporary file while it is hashed (the key is the content's
SHA-256, known only at the end), then sent to the bucket with boto3's managed transfer
(multipart above 8 MiB, parts in parallel). Memory stays flat; the spool file is removed
whatever happens. Reads stream ``GetObject``; downloads and variants are presigned ``GET`` URLs
(SigV4), so the bytes go from the bucket to the client directly.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio

from .local import LocalStorage, _LocalPending

__all__ = ["S3Settings", "S3Storage"]

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - only without the extra
    boto3 = None


class S3Settings:
    """Where the bucket is and how to reach it."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        addressing_style: str,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.addressing_style = addressing_style


class _S3Pending(_LocalPending):
    """Spooled like a local object; committed by uploading the spool file to the bucket."""

    def __init__(self, bucket: S3Storage, spool: LocalStorage, tenant_id: str) -> None:
        super().__init__(spool, tenant_id)
        self._bucket = bucket

    def _commit_sync(self) -> str:
        assert self._file is not None
        handle, self._file = self._file, None
        handle.close()  # (no fsync: the bucket holds the durable copy)
        key = self.key
        try:
            self._bucket.upload_file(self._temp, key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
        self._done = True
        return key


class S3Storage:
    """Objects under ``prefix`` in ``bucket``; ``spool`` is a local folder for uploads in flight
    (its temporary files are kept and cleaned like ``LocalStorage``'s)."""

    def __init__(self, settings: S3Settings, spool: str | os.PathLike[str]) -> None:
        if boto3 is None:
            raise RuntimeError("S3 storage needs boto3: pip install 'scopix-server[s3]'")
        self._spool = LocalStorage(spool)
        self.tmp_dir = self._spool.tmp_dir
        self.settings = settings
        self.bucket = settings.bucket
        self._client = self._new_client()
        # a byte range cannot be checked against the whole object's checksum, which some
        # S3 servers send with it: ranged reads go through a client that does not try
        self._ranged_client = self._new_client(response_checksum_validation="when_required")
        self._transfer = TransferConfig(multipart_threshold=8 * 1024 * 1024, max_concurrency=8)

    def _new_client(self, **options: Any) -> Any:
        settings = self.settings
        return boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": settings.addressing_style},
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=32,
                **options,
            ),
        )

    def key_of(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid object key {key!r}")
        return self.settings.prefix + key

    # --- the protocol ---

    def clean_temporary(self, idle_seconds: float = 15 * 60) -> int:
        return self._spool.clean_temporary(idle_seconds)

    def begin(self, tenant_id: str) -> _S3Pending:
        return _S3Pending(self, self._spool, tenant_id)

    def upload_file(self, path: Path, key: str) -> None:
        """Blocking: send a local file to ``key`` (skipped when the bucket has it already)."""
        if self._head(key) is None:
            self._client.upload_file(
                str(path), self.bucket, self.key_of(key), Config=self._transfer
            )

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(
                Bucket=self.bucket, Key=self.key_of(key)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head

    async def read(
        self,
        key: str,
        *,
        chunk_size: int = 1024 * 1024,
        start: int = 0,
        length: int | None = None,
    ) -> AsyncIterator[bytes]:
        client, ranged = self._client, {}
        if start or length is not None:
            last = "" if length is None else str(start + length - 1)
            client, ranged = self._ranged_client, {"Range": f"bytes={start}-{last}"}
        answer = await anyio.to_thread.run_sync(
            lambda: client.get_object(Bucket=self.bucket, Key=self.key_of(key), **ranged)
        )
        body = answer["Body"]
        try:
            while chunk := await anyio.to_thread.run_sync(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self._head, key) is not None

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            await anyio.to_thread.run_sync(
                lambda: self._client.download_file(
                    self.bucket, self.key_of(key), str(path), Config=self._transfer
                )
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"object {key} is missing from the bucket") from None
            raise
        try:
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def put(self, key: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(
            lambda: self._client.put_object(Bucket=self.bucket, Key=self.key_of(key), Body=data)
        )

    async def put_file(self, key: str, path: Path) -> None:
        await anyio.to_thread.run_sync(self.upload_file, path, key)

    async def size(self, key: str) -> int:
        head = await anyio.to_thread.run_sync(self._head, key)
        if head is None:
            raise FileNotFoundError(f"object {key} is missing from the bucket")
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(
            lambda: self._client.delete_object(Bucket=self.bucket, Key=self.key_of(key))
        )

    async def keys_older_than(self, seconds: float) -> AsyncIterator[str]:
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=seconds)

        def scan() -> list[str]:
            found = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.settings.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.settings.prefix) :]
                    # (direct uploads' objects go with their upload or their file's purge)
                    if item["LastModified"] < cutoff and not key.startswith("direct/"):
                        found.append(key)
            return found

        for key in await anyio.to_thread.run_sync(scan):
            yield key

    async def check(self) -> None:
        try:
            await anyio.to_thread.run_sync(lambda: self._client.head_bucket(Bucket=self.bucket))
        except (ClientError, BotoCoreError) as error:
            raise OSError(f"bucket {self.bucket!r} is not reachable: {error}") from error

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        """A SigV4 presigned GET of ``key`` (the bytes go from the bucket to the client)."""
        params = {
            "Bucket": self.bucket,
            "Key": self.key_of(key),
            "ResponseContentType": content_type,
        }
        if filename:
            params["ResponseContentDisposition"] = (
                f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
            )
        url: str = self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl_seconds
        )
        return url
