"""``Idempotency-Key`` on POST: a repeat within 24 h replays the first answer and creates nothing.

The record is written in the same transaction as what the request created, so a crash can never
leave one without the other. The fingerprint covers what the request *means* (route, form fields,
the SHA-256 of each file), not its raw bytes: a retried multipart upload has a new boundary.
Only successful answers are kept; a request that failed may simply be sent again.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import IdempotencyRecord, utcnow
from ..errors import Conflict, ValidationFailed

__all__ = ["check_key", "fingerprint", "remember", "replay", "seen"]

WINDOW = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def check_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise ValidationFailed(
            "Idempotency-Key must be 1-128 characters from A-Z a-z 0-9 _ . -",
            details={"errors": [{"field": "Idempotency-Key", "message": "invalid"}]},
        )
    return raw


def fingerprint(route: str, fields: dict[str, list[str]], file_hashes: list[str]) -> str:
    canonical = json.dumps(
        {"route": route, "fields": sorted(fields.items()), "files": file_hashes},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replay(
    session: AsyncSession, tenant_id: str, key: str, print_: str
) -> tuple[int, dict[str, Any]] | None:
    """The stored answer for this key, ``None`` if there is none, 409 if the request differs."""
    record = await session.get(IdempotencyRecord, (tenant_id, key))
    if record is None or record.created_at < utcnow() - WINDOW:
        return None
    if record.fingerprint != print_:
        raise Conflict(
            "this Idempotency-Key was already used for a different request; use a new key",
            details={"idempotency_key": key},
        )
    if record.status_code is None or record.body is None:
        return None
    return record.status_code, record.body


async def remember(
    session: AsyncSession,
    tenant_id: str,
    key: str,
    print_: str,
    status_code: int,
    body: dict[str, Any],
) -> None:
    """Store the answer (in the caller's transaction); replaces an expired record."""
    record = await session.get(IdempotencyRecord, (tenant_id, key))
    if record is None:
        session.add(
            IdempotencyRecord(
                tenant_id=tenant_id,
                key=key,
                fingerprint=print_,
                status_code=status_code,
                body=body,
            )
        )
    else:
        record.fingerprint = print_
        record.status_code = status_code
        record.body = body
        record.created_at = utcnow()


async def seen(session: AsyncSession, tenant_id: str, key: str) -> bool:
    """Whether this key was used (by any request) within the window."""
    record = await session.get(IdempotencyRecord, (tenant_id, key))
    return record is not None and record.created_at >= utcnow() - WINDOW
