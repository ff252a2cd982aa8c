"""Shared objects, and who may delete them: decided by the database, across processes.

Originals are content-addressed per tenant, so identical bytes share one object. Deleting one is
safe only when no file row uses it *and* no request is about to record a row that will. So:

- a request that may commit an object claims its key first (``claim``, its own short
  transaction, before the bytes become visible under the key), and lets go once its rows are
  committed or rolled back (``release``, which also deletes the object if nothing uses it);
- every deletion of an original (a refused upload, the purge, the orphan sweep) goes through
  ``delete_unused``: it writes the key's claim row first (a row lock on PostgreSQL, the single
  writer on SQLite), checks rows and claims, and deletes the bytes *before* it commits. A
  concurrent claim either came first (the object stays) or waits for the deletion and then
  writes the bytes again;
- deciding "is this a duplicate?" takes the same lock (``lock``), held to the end of the
  request's transaction, so two requests with the same new bytes cannot both miss each other.

A claim of a request that died is ignored once it is older than ``STALE_CLAIM`` (no request
holds one that long: claims are taken after the body has arrived).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.dialect import insert
from ..db.models import File, ObjectClaim, utcnow
from ..storage import StorageBackend

__all__ = [
    "STALE_CLAIM",
    "claim",
    "claim_in",
    "delete_unused",
    "forget_settled",
    "lock",
    "release",
    "settle",
]

logger = logging.getLogger("scopix_server")

STALE_CLAIM = timedelta(hours=1)
_CHUNK = 400  # keys per statement (bound parameters stay well under SQLite's limit)


def _chunks(keys: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(keys))  # one order everywhere: row locks never wait in a cycle
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


async def _adjust(session: AsyncSession, keys: list[str], delta: int) -> None:
    """Add ``delta`` to the keys' claims (creating rows), which locks them until commit."""
    now = utcnow()
    for key in keys:  # (one by one, in order: see _chunks)
        statement = insert(session, ObjectClaim).values(
            object_key=key, claims=max(delta, 0), claimed_at=now
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[ObjectClaim.object_key],
                set_={
                    "claims": ObjectClaim.claims + delta,
                    "claimed_at": now if delta > 0 else ObjectClaim.claimed_at,
                },
            )
        )


async def claim(sessions: async_sessionmaker[AsyncSession], keys: Iterable[str]) -> None:
    """Claim ``keys`` (committed at once) before committing their bytes to storage."""
    keys = list(keys)
    if keys:
        async with sessions() as session:
            await claim_in(session, keys)
            await session.commit()


async def claim_in(session: AsyncSession, keys: Iterable[str]) -> None:
    """``claim`` in the caller's transaction, which must commit before the bytes are written."""
    for chunk in _chunks(keys):
        await _adjust(session, chunk, +1)


async def lock(session: AsyncSession, keys: Iterable[str]) -> None:
    """Lock ``keys`` in the caller's transaction until it ends (for duplicate decisions)."""
    for chunk in _chunks(keys):
        await _adjust(session, chunk, 0)


async def settle(session: AsyncSession, keys: Iterable[str]) -> None:
    """Drop this request's claims in the transaction that commits the rows using ``keys``.

    The rows hold the objects from that commit on, so a request that succeeds needs no second
    transaction; if this one rolls back, the claims stay and ``release`` lets go of them.
    """
    for chunk in _chunks(keys):  # (rows left at 0 are removed by ``forget_settled``)
        await session.execute(
            update(ObjectClaim)
            .where(ObjectClaim.object_key.in_(chunk))
            .values(claims=ObjectClaim.claims - 1)
        )


async def forget_settled(session: AsyncSession) -> int:
    """Remove claim rows that hold nothing any more (settled, or left by a dead request)."""
    result = await session.execute(
        delete(ObjectClaim).where(
            or_(ObjectClaim.claims <= 0, ObjectClaim.claimed_at < utcnow() - STALE_CLAIM)
        )
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_unused(
    session: AsyncSession, storage: StorageBackend, keys: Iterable[str], *, unclaim: bool = False
) -> int:
    """Delete the objects among ``keys`` that no file row uses and no live request claims.

    ``unclaim``: first drop one claim of each key (the caller's own). Commits; returns how many
    objects were deleted. A failed storage deletion rolls back: the claim rows stay, and the
    orphan sweep tries again later.
    """
    deleted = 0
    for chunk in _chunks(keys):
        await _adjust(session, chunk, -1 if unclaim else 0)
        fresh = utcnow() - STALE_CLAIM
        claimed = set(
            await session.scalars(
                select(ObjectClaim.object_key).where(
                    ObjectClaim.object_key.in_(chunk),
                    ObjectClaim.claims > 0,
                    ObjectClaim.claimed_at >= fresh,
                )
            )
        )
        used = set(
            await session.scalars(
                select(File.object_key).where(File.object_key.in_(chunk)).distinct()
            )
        )
        unused = [key for key in chunk if key not in claimed and key not in used]
        try:
            for key in unused:  # (still holding the lock: no claim can slip in between)
                await storage.delete(key)
        except BaseException:
            await session.rollback()
            raise
        deleted += len(unused)
        await session.execute(
            delete(ObjectClaim).where(
                ObjectClaim.object_key.in_(chunk),
                or_(ObjectClaim.claims <= 0, ObjectClaim.claimed_at < fresh),
            )
        )
        await session.commit()
    return deleted


async def release(
    sessions: async_sessionmaker[AsyncSession], storage: StorageBackend, keys: Iterable[str]
) -> int:
    """Let go of this request's claims (after its transaction ended); deletes what is unused.

    Never raises (it runs while a request answers, often after another failure): what it could
    not do is left to stale claims and the orphan sweep, and logged.
    """
    keys = list(keys)
    try:
        async with sessions() as session:
            return await delete_unused(session, storage, keys, unclaim=True)
    except Exception as error:
        logger.warning("could not release %d object claims (%s); the sweep will", len(keys), error)
        return 0
