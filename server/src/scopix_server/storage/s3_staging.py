"""Direct uploads into an S3 bucket: the client sends the bytes to the bucket itself.

A direct upload's bytes land under a staging key (``staging/<upload id>``), either by one
presigned ``PutObject`` or by a multipart upload whose parts have presigned ``UploadPart`` URLs
(SigV4: a changed URL is refused by the bucket, an old one has expired). At ``complete`` the
multipart upload is finished and the staged object is read once, in a worker thread, to hash it
(memory stays flat whatever the size). Accepted bytes are copied to their content key inside
the bucket (``CopyObject``: no byte passes through the server) and the staging object goes.
Staging keys are never reported as orphans: their upload's expiry removes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from typing import IO, Any, BinaryIO

import anyio

from .s3 import S3Storage

__all__ = ["STAGING_PREFIX", "S3Staged", "S3Uploads"]

STAGING_PREFIX = "staging/"
PRESIGN_MAX_SECONDS = 7 * 24 * 3600  # SigV4's limit
COPY_IN_ONE_REQUEST = 5 * 1024**3  # CopyObject's limit; larger objects are copied in parts
HEAD_READ = 1024 * 1024

try:
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - only without the extra
    pass


def _code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Uploads:
    """The bucket side of direct uploads (blocking calls: run them in a worker thread)."""

    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self._client = storage._client
        self._bucket = storage.bucket

    def staging_key(self, upload_id: str) -> str:
        return f"{STAGING_PREFIX}{upload_id}"

    def _key(self, upload_id: str) -> str:
        return self.storage.key_of(self.staging_key(upload_id))

    def start_multipart(self, upload_id: str) -> str:
        answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key(upload_id))
        return str(answer["UploadId"])

    def put_url(self, upload_id: str, ttl: int) -> str:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": self._key(upload_id)},
            ExpiresIn=min(ttl, PRESIGN_MAX_SECONDS),
        )
        return url

    def part_url(self, upload_id: str, storage_upload_id: str, number: int, ttl: int) -> str:
        url: str = self._client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": self._key(upload_id),
                "UploadId": storage_upload_id,
                "PartNumber": number,
            },
            ExpiresIn=min(ttl, PRESIGN_MAX_SECONDS),
        )
        return url

    def parts(self, upload_id: str, storage_upload_id: str | None) -> dict[int, tuple[str, int]]:
        """What the bucket holds: part number -> (ETag, size); a single PUT is part 1."""
        if storage_upload_id is None:
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=self._key(upload_id))
            except ClientError as error:
                if _code(error) in ("404", "NoSuchKey", "NotFound"):
                    return {}
                raise
            return {1: (str(head["ETag"]).strip('"'), int(head["ContentLength"]))}
        found: dict[int, tuple[str, int]] = {}
        try:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=self._key(upload_id), UploadId=storage_upload_id
            )
            for page in pages:
                for part in page.get("Parts", []):
                    found[int(part["PartNumber"])] = (
                        str(part["ETag"]).strip('"'),
                        int(part["Size"]),
                    )
        except ClientError as error:
            if _code(error) in ("NoSuchUpload", "404", "NotFound"):
                return {}
            raise
        return found

    def finish_multipart(self, upload_id: str, storage_upload_id: str, etags: list[str]) -> None:
        """Join the parts (numbered from 1, in order) into the staging object."""
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key(upload_id),
            UploadId=storage_upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in enumerate(etags, 1)]
            },
        )

    def discard(self, upload_id: str, storage_upload_id: str | None) -> None:
        """Abort the multipart upload (its parts go) and delete the staged object, if any."""
        if storage_upload_id is not None:
            with contextlib.suppress(ClientError):  # (already completed or aborted)
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key(upload_id), UploadId=storage_upload_id
                )
        self._client.delete_object(Bucket=self._bucket, Key=self._key(upload_id))

    def hash_staged(
        self, upload_id: str, tenant_id: str, chunk_size: int = 8 * 1024 * 1024
    ) -> S3Staged:
        """Read the staged object once: its size, SHA-256 and first bytes (for the media check)."""
        answer = self._client.get_object(Bucket=self._bucket, Key=self._key(upload_id))
        body = answer["Body"]
        digest = hashlib.sha256()
        size = 0
        head = bytearray()
        try:
            while chunk := body.read(chunk_size):
                size += len(chunk)
                if len(head) < HEAD_READ:
                    head += chunk[: HEAD_READ - len(head)]
                digest.update(chunk)
        finally:
            body.close()
        return S3Staged(
            self, upload_id, tenant_id, size=size, sha256=digest.hexdigest(), head=bytes(head)
        )


class S3Staged:
    """A staged object that has been hashed: a ``PendingObject`` whose bytes are already written.

    ``commit`` copies it to its content key inside the bucket (skipped when the bucket has those
    bytes already) and deletes the staging object.
    """

    def __init__(
        self,
        uploads: S3Uploads,
        upload_id: str,
        tenant_id: str,
        *,
        size: int,
        sha256: str,
        head: bytes,
    ) -> None:
        self._uploads = uploads
        self._upload_id = upload_id
        self._tenant_id = tenant_id
        self.size = size
        self._sha256 = sha256
        self.head = head

    def write(self, chunk: bytes | memoryview) -> None:
        raise RuntimeError("a staged object is already written")

    async def drain(self) -> None:
        return None

    async def finish(self) -> None:
        return None

    @property
    def sha256(self) -> str:
        return self._sha256

    def open_written(self) -> BinaryIO:
        """A local copy of the staged bytes (only container checks need it), removed on close."""
        storage = self._uploads.storage
        handle: IO[bytes] = tempfile.TemporaryFile(dir=storage.tmp_dir)  # noqa: SIM115
        storage._client.download_fileobj(
            storage.bucket, self._uploads._key(self._upload_id), handle
        )
        handle.seek(0)
        return handle  # type: ignore[return-value]

    def _commit_sync(self) -> str:
        digest = self._sha256
        key = f"{self._tenant_id}/{digest[:2]}/{digest[2:4]}/{digest}"
        storage = self._uploads.storage
        if storage._head(key) is None:
            storage._client.copy(
                {"Bucket": storage.bucket, "Key": self._uploads._key(self._upload_id)},
                storage.bucket,
                storage.key_of(key),
                Config=TransferConfig(
                    multipart_threshold=COPY_IN_ONE_REQUEST, multipart_chunksize=512 * 1024**2
                ),
            )
        storage._client.delete_object(
            Bucket=storage.bucket, Key=self._uploads._key(self._upload_id)
        )
        return key

    async def commit(self) -> str:
        return await anyio.to_thread.run_sync(self._commit_sync)

    async def abort(self) -> None:
        return None  # the staging object goes with its upload (``S3Uploads.discard``)
