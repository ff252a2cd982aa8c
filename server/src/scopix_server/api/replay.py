"""``Idempotency-Key`` for the JSON POST routes (the upload routes fingerprint their files).

A route asks ``replayed()`` first: with a stored answer for the key it returns it at once; a
different request under the same key is a 409. After doing its work the route calls
``remember()`` before it commits, so the answer is stored in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ..services import idempotency
from .deps import Auth

__all__ = ["Replay", "replayed"]


@dataclass(frozen=True)
class Replay:
    key: str | None
    fingerprint: str
    answer: JSONResponse | None  # set when the request was already answered

    async def remember(
        self, session: AsyncSession, auth: Auth, status_code: int, body: dict[str, Any]
    ) -> None:
        if self.key is not None:
            await idempotency.remember(
                session, auth.tenant.id, self.key, self.fingerprint, status_code, body
            )


async def replayed(
    request: Request, session: AsyncSession, auth: Auth, route: str, body: Any
) -> Replay:
    key = idempotency.check_key(request.headers.get("idempotency-key"))
    if key is None:
        return Replay(None, "", None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    fingerprint = idempotency.fingerprint(route, {"json": [canonical]}, [])
    stored = await idempotency.replay(session, auth.tenant.id, key, fingerprint)
    answer = JSONResponse(stored[1], status_code=stored[0]) if stored is not None else None
    return Replay(key, fingerprint, answer)
