"""``Idempotency-Key`` on POST: a repeat within 24 h replays the first answer and creates nothing.

The first request with a key *claims* it: it inserts the key's record, with no answer yet, in a
transaction of its own (the primary key decides which request is first, across processes). It
then does its work and stores its answer in the same transaction as what it created, so a crash
never leaves one without the other. If it fails, it gives the key up (``abandon``): a request
that failed may simply be sent again.

A request that finds the key in flight waits for the answer (up to ``IN_FLIGHT_WAIT``) and
replays it, or gets 409 with ``Retry-After``. A claim whose request died is taken over once it
is older than ``STALE_IN_FLIGHT``.

The fingerprint covers what the request *means* (route, form fields, the SHA-256 of each file),
not its raw bytes: a retried multipart upload has a new boundary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.dialect import insert
from ..db.models import IdempotencyRecord, new_id, utcnow
from ..errors import Conflict, ValidationFailed

__all__ = [
    "Answer",
    "Claim",
    "IN_FLIGHT_WAIT",
    "STALE_IN_FLIGHT",
    "WINDOW",
    "abandon",
    "begin",
    "check_key",
    "fingerprint",
    "remember",
]

logger = logging.getLogger("scopix_server")

WINDOW = timedelta(hours=24)
IN_FLIGHT_WAIT = 10.0  # seconds a repeat waits for the first request's answer
STALE_IN_FLIGHT = timedelta(minutes=10)  # a claim this old belongs to a request that died
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


@dataclass(frozen=True)
class Claim:
    """This request holds the key: it must ``remember`` its answer or ``abandon`` the key."""

    tenant_id: str
    key: str
    fingerprint: str
    owner: str


@dataclass(frozen=True)
class Answer:
    """The key was answered already: replay this."""

    status_code: int
    body: dict[str, Any]


async def _try_claim(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: str,
    key: str,
    print_: str,
    with_claim: Callable[[AsyncSession], Awaitable[None]] | None,
) -> Claim | Answer | None:
    """One attempt: the claim, the stored answer, or ``None`` while another request holds it."""
    owner = new_id()
    now = utcnow()
    async with sessions() as session:
        inserted = await session.execute(
            insert(session, IdempotencyRecord)
            .values(tenant_id=tenant_id, key=key, fingerprint=print_, owner=owner, created_at=now)
            .on_conflict_do_nothing(
                index_elements=[IdempotencyRecord.tenant_id, IdempotencyRecord.key]
            )
        )
        if getattr(inserted, "rowcount", 0) == 1:
            if with_claim is not None:
                await with_claim(session)
            await session.commit()
            return Claim(tenant_id, key, print_, owner)
        record = await session.get(IdempotencyRecord, (tenant_id, key))
        if record is None:  # (given up in between: try again)
            return None
        expired = record.created_at < now - WINDOW
        abandoned = record.status_code is None and record.created_at < now - STALE_IN_FLIGHT
        if expired or abandoned:  # take it over, unless another request just did
            taken = await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.tenant_id == tenant_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.created_at == record.created_at,
                )
                .values(
                    fingerprint=print_, owner=owner, created_at=now, status_code=None, body=None
                )
            )
            won = getattr(taken, "rowcount", 0) == 1
            if won and with_claim is not None:
                await with_claim(session)
            await session.commit()
            return Claim(tenant_id, key, print_, owner) if won else None
        if record.fingerprint != print_:
            raise Conflict(
                "this Idempotency-Key was already used for a different request; use a new key",
                details={"idempotency_key": key},
            )
        if record.status_code is None or record.body is None:
            return None
        return Answer(record.status_code, record.body)


async def begin(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: str,
    key: str,
    print_: str,
    *,
    wait: float | None = None,
    with_claim: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> Claim | Answer:
    """Claim ``key`` for this request, or the answer of the request that has it.

    ``with_claim`` runs in the transaction that claims the key (one commit for both).

    Raises 409 if the key was used for a different request, or if the request holding it does
    not answer within ``wait`` seconds (default ``IN_FLIGHT_WAIT``; with ``Retry-After``).
    """
    deadline = anyio.current_time() + (IN_FLIGHT_WAIT if wait is None else wait)
    pause = 0.02
    while True:
        outcome = await _try_claim(sessions, tenant_id, key, print_, with_claim)
        if outcome is not None:
            return outcome
        if anyio.current_time() >= deadline:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; ask again in a "
                "moment for its answer",
                details={"idempotency_key": key, "state": "in_progress"},
                headers={"Retry-After": "2"},
            )
        await anyio.sleep(pause)
        pause = min(pause * 2, 0.25)


async def remember(
    session: AsyncSession, claim: Claim, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer, in the caller's transaction (committed with what the request made)."""
    await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.tenant_id == claim.tenant_id,
            IdempotencyRecord.key == claim.key,
            IdempotencyRecord.owner == claim.owner,
        )
        .values(status_code=status_code, body=body)
    )


async def abandon(sessions: async_sessionmaker[AsyncSession], claim: Claim) -> None:
    """Give the key up after a failure (nothing if the answer was stored meanwhile).

    Never raises: a key it could not give up is taken over once ``STALE_IN_FLIGHT`` has passed.
    """
    with anyio.CancelScope(shield=True):
        try:
            async with sessions() as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.tenant_id == claim.tenant_id,
                        IdempotencyRecord.key == claim.key,
                        IdempotencyRecord.owner == claim.owner,
                        IdempotencyRecord.status_code.is_(None),
                    )
                )
                await session.commit()
        except Exception as error:
            logger.warning("could not give Idempotency-Key %r up (%s)", claim.key, error)
