"""Direct uploads and their staging (``storage.staging``): the record's view of it.

The stagings take plain values; this module turns a ``DirectUpload`` row into them, refuses
storage that has no staging, and reads the staged bytes into a ``FilePart`` that is checked and
recorded like any upload (``services.ingest``).
"""

from __future__ import annotations

from ..db.models import DirectUpload
from ..errors import BadRequest, PayloadTooLarge
from ..storage import StorageBackend
from ..storage.staging import StagedUpload, Staging, WrongPartSize, staging_for
from .media import HEAD_BYTES
from .uploads import FilePart

__all__ = ["part_refusal", "read_part", "staged", "staging_of"]


def staging_of(storage: StorageBackend) -> Staging:
    """The staging of ``storage``; a clear refusal for storage that has none."""
    staging = staging_for(storage)
    if staging is None:
        raise BadRequest(f"direct uploads are not available on {type(storage).__name__} storage")
    return staging


def staged(upload: DirectUpload) -> StagedUpload:
    return StagedUpload(
        id=upload.id,
        method=upload.method,
        size_bytes=upload.size_bytes,
        part_size=upload.part_size,
        part_count=upload.part_count,
        expires_at=upload.expires_at,
        storage_upload_id=upload.storage_upload_id,
    )


async def read_part(
    staging: Staging, upload: DirectUpload, tenant_id: str, storage: StorageBackend
) -> FilePart:
    """The staged bytes, read once, as a ``FilePart`` ready to be checked and committed."""
    found = await staging.read(staged(upload), tenant_id, storage, head_bytes=HEAD_BYTES)
    return FilePart(
        filename=upload.filename, pending=found.pending, head=bytearray(found.head), size=found.size
    )


def part_refusal(error: WrongPartSize) -> PayloadTooLarge | BadRequest:
    """The answer to a part of the wrong size: 413 when more was sent, else 400."""
    if error.received is None:
        return PayloadTooLarge(
            f"part {error.number} is {error.expected} bytes; more was sent",
            details={"expected_bytes": error.expected},
        )
    return BadRequest(
        str(error), details={"expected_bytes": error.expected, "received_bytes": error.received}
    )
