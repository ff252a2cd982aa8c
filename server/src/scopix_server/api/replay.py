"""``Idempotency-Key`` for the JSON POST routes (the upload routes fingerprint their files).

A route runs inside ``idempotent(...)``: with a stored answer for the key, ``replay.answer`` is
set and the route returns it at once; a different request under the same key is a 409; a repeat
of a request still at work waits for its answer. After doing its work the route calls
``replay.remember()`` before it commits, so the answer is stored in the same transaction. If the
route fails, its transaction is rolled back and the key is given up.

A route whose answer outlives it (a stream) calls ``claim(...)`` itself and ``release()`` once
its answer has ended.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ..services import idempotency
from .deps import AppState, Auth

__all__ = ["Replay", "claim", "idempotent"]


@dataclass
class Replay:
    claim: idempotency.Claim | None  # held by this request (None: no key, or a replay)
    answer: JSONResponse | None  # set when the request was already answered
    remembered: bool = False
    stored: idempotency.Answer | None = None  # what ``answer`` is made of

    @property
    def key(self) -> str | None:
        return self.claim.key if self.claim is not None else None

    async def remember(self, session: AsyncSession, status_code: int, body: dict[str, Any]) -> None:
        if self.claim is not None:
            await idempotency.remember(session, self.claim, status_code, body)
            self.remembered = True

    async def release(self, state: AppState, session: AsyncSession | None = None) -> None:
        """Give the key up unless an answer was stored under it (after undoing ``session``'s
        work: with SQLite, its write lock goes before the key is given up)."""
        if self.claim is None or self.remembered:
            return
        with anyio.CancelScope(shield=True):
            if session is not None:
                await session.rollback()
            await idempotency.abandon(state.sessions, self.claim)


async def claim(request: Request, state: AppState, auth: Auth, route: str, body: Any) -> Replay:
    """The request's ``Idempotency-Key`` claimed for it (``replay.claim``), or the answer already
    stored under it (``replay.stored``), or neither when it has no key."""
    key = idempotency.check_key(request.headers.get("idempotency-key"))
    if key is None:
        return Replay(None, None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    print_ = idempotency.fingerprint(route, {"json": [canonical]}, [])
    outcome = await idempotency.begin(state.sessions, auth.tenant.id, key, print_)
    if isinstance(outcome, idempotency.Answer):
        answer = JSONResponse(outcome.body, status_code=outcome.status_code)
        return Replay(None, answer, stored=outcome)
    return Replay(outcome, None)


@asynccontextmanager
async def idempotent(
    request: Request,
    session: AsyncSession,
    state: AppState,
    auth: Auth,
    route: str,
    body: Any,
) -> AsyncIterator[Replay]:
    replay = await claim(request, state, auth, route, body)
    try:
        yield replay
    except BaseException:
        await replay.release(state, session)
        raise
    await replay.release(state, session)
