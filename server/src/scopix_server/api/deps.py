"""Request dependencies: the database session and the authenticated tenant (``AuthDep``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import ApiKey, Tenant, utcnow
from ..errors import Forbidden, RateLimited, Unauthorized
from ..jobs import Enqueuer
from ..metrics import Metrics
from ..services.ingest import Ingest
from ..services.ratelimit import ConcurrencyLimiter, RateLimiter
from ..services.search import Searcher
from ..services.tenants import authenticate
from ..services.tiers import limits_for
from ..settings import Settings
from ..storage import StorageBackend
from ..storage.signing import Signer

__all__ = ["AppState", "Auth", "AuthDep", "SessionDep", "StateDep", "get_state", "upload_slot"]


@dataclass
class AppState:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    storage: StorageBackend
    signer: Signer
    limiter: RateLimiter
    metrics: Metrics
    jobs: Enqueuer  # add jobs in a transaction; wake the workers after it commits
    searcher: Searcher  # search by words and by meaning
    ingest: Ingest  # recording uploaded files
    uploads_in_flight: ConcurrencyLimiter = field(default_factory=ConcurrencyLimiter)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.scopix
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


# Closed as soon as the route returns, before its response is sent: a download or an event
# stream that a client reads slowly (or never) must not hold a pooled database connection for
# its whole length (a few such readers would leave every other request without one).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Auth:
    key: ApiKey
    tenant: Tenant


_TOUCH_EVERY = timedelta(minutes=1)  # how stale last_used_at may get (saves a write per call)


async def _refuse(request: Request, state: AppState, error: Unauthorized) -> Unauthorized:
    """Count a failed authentication against the client's address; too many become a 429."""
    client = request.client.host if request.client else "unknown"
    verdict = await state.limiter.hit(
        f"auth-fail:{client}", state.settings.auth_failures_per_minute
    )
    if not verdict.allowed:
        raise RateLimited(
            "too many failed authentications from this address; wait before trying again",
            headers={"Retry-After": str(verdict.retry_after)},
        )
    return error


async def require_auth(request: Request, session: SessionDep, state: StateDep) -> Auth:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise await _refuse(
            request,
            state,
            Unauthorized("missing Authorization header: send 'Authorization: Bearer scopix_...'"),
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise await _refuse(
            request, state, Unauthorized("the Authorization header must be 'Bearer scopix_...'")
        )
    found = await authenticate(session, token.strip())
    if found is None:
        raise await _refuse(request, state, Unauthorized("invalid, revoked or expired API key"))
    key, tenant = found
    if key.scopes and "write" not in key.scopes and request.method not in ("GET", "HEAD"):
        raise Forbidden(
            f"this API key has the scopes {', '.join(key.scopes)}: it may only read (GET); "
            "use a key with the write scope"
        )
    claimed = request.headers.get("x-tenant-id")
    if claimed is not None and claimed not in (tenant.id, tenant.name):
        raise Forbidden("X-Tenant-ID names another tenant than the API key's")
    verdict = await state.limiter.hit(f"key:{key.id}", limits_for(tenant.tier).requests_per_minute)
    request.scope.setdefault("state", {})["rate_limit_headers"] = verdict.headers()
    if not verdict.allowed:
        raise RateLimited(
            f"rate limit of {verdict.limit} requests per minute reached for this API key",
            details={"limit": verdict.limit, "retry_after": verdict.retry_after},
            headers={"Retry-After": str(verdict.retry_after)},
        )
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        key.last_used_at = now
    # End the transaction now: the connection goes back to the pool instead of being held
    # while a long upload streams in (the loaded rows stay usable: expire_on_commit=False).
    await session.commit()
    return Auth(key=key, tenant=tenant)


AuthDep = Annotated[Auth, Depends(require_auth)]


@asynccontextmanager
async def upload_slot(state: AppState, auth: Auth) -> AsyncIterator[None]:
    """Hold one of the key's concurrent-upload slots (tier limit) for the request's duration."""
    limit = limits_for(auth.tenant.tier).concurrent_uploads
    if not state.uploads_in_flight.try_acquire(auth.key.id, limit):
        raise RateLimited(
            f"at most {limit} uploads may run at once for this API key; wait for one to finish",
            details={"concurrent_uploads": limit},
            headers={"Retry-After": "1"},
        )
    try:
        yield
    finally:
        state.uploads_in_flight.release(auth.key.id)
