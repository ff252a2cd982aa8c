"""``Scopix``: the asynchronous client."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from . import _constants as C
from ._base_client import HTTPCore, TimeoutArg
from ._config import ClientConfig
from ._types import NOT_GIVEN
from .resources import AgentSearch, Chats, Files, Images, People

__all__ = ["Scopix"]


class Scopix:
    """Asynchronous client of the Scopix API.

    Usage::

        async with Scopix(api_key="scopix_...") as client:
            response = await client.request("GET", "/uploads/quota-check", params={"file_count": 1})

    Settings are resolved in this order: explicit arguments, then (with ``Scopix.from_env()``) the
    ``SCOPIX_*`` environment variables, then the defaults. Advanced options (circuit breaker,
    logging, tracing details) live on ``ClientConfig``: ``Scopix.from_config(config)``.

    Args:
        api_key: your API key, ``scopix_...``.
        base_url: API base URL; must be HTTPS unless the host is localhost / 127.0.0.0/8 / ::1.
        timeout: per-request timeout in seconds.
        max_retries: retries for transient failures (429, 5xx, network errors, timeouts).
        retry_delay: first retry delay in seconds; doubles with each retry.
        polling_interval: seconds between status checks while waiting for processing.
        polling_timeout: the longest a wait for processing lasts, in seconds.
        tenant_id: sent as ``X-Tenant-ID`` for multi-tenant deployments.
        proxy_url: an ``http://`` or ``https://`` proxy.
        enable_tracing: OpenTelemetry spans and ``traceparent`` (``pip install 'scopix[tracing]'``).

    Raises:
        ValueError: a setting is invalid (the message says how to fix it).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = C.DEFAULT_BASE_URL,
        timeout: float = C.DEFAULT_TIMEOUT,
        max_retries: int = C.DEFAULT_MAX_RETRIES,
        retry_delay: float = C.DEFAULT_RETRY_DELAY,
        polling_interval: float = C.DEFAULT_POLLING_INTERVAL,
        polling_timeout: float = C.DEFAULT_POLLING_TIMEOUT,
        tenant_id: str | None = None,
        proxy_url: str | None = None,
        enable_tracing: bool = False,
    ) -> None:
        config = ClientConfig(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            polling_interval=polling_interval,
            polling_timeout=polling_timeout,
            tenant_id=tenant_id,
            proxy_url=proxy_url,
            enable_tracing=enable_tracing,
        )
        self._attach(HTTPCore(config))

    def _attach(self, core: HTTPCore) -> None:
        self._core = core
        self.files = Files(core)
        """Upload, read, list and wait for files."""
        self.images = Images(core)
        """Analyze one image in a single call."""
        self.agent_search = AgentSearch(core)
        """Find images and document passages by what they mean."""
        self.people = People(core)
        """The faces in your pictures grouped into people (on servers that do it)."""
        self.chats = Chats(core)
        """Ask questions about your library, in sessions (answers streamed or whole)."""
        self.chat_session = self.chats.session
        """``async with client.chat_session(title=...) as chat:``: a session closed at the end."""

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> Scopix:
        """A client with every option of ``config`` (including the advanced ones).

        ``transport`` replaces the network layer (e.g. ``httpx.MockTransport`` in tests or
        ``httpx.ASGITransport(app=...)`` to talk to an in-process server). ``http_client`` lends
        the client an ``httpx.AsyncClient`` that you configured; it is not closed by ``aclose()``.
        """
        if not isinstance(config, ClientConfig):
            raise TypeError(f"config must be a ClientConfig, got {type(config).__name__}")
        client = cls.__new__(cls)
        client._attach(HTTPCore(config, transport=transport, http_client=http_client))
        return client

    @classmethod
    def from_env(cls, **overrides: Any) -> Scopix:
        """A client configured from ``SCOPIX_*`` environment variables; keyword overrides win.

        Any ``ClientConfig`` field may be overridden. A malformed variable raises ``ValueError``
        naming it. Call ``scopix.load_dotenv()`` first to read a ``.env`` file.
        """
        return cls.from_config(ClientConfig.from_env(**overrides))

    @property
    def config(self) -> ClientConfig:
        """The client's settings (read-only)."""
        return self._core.config

    @property
    def is_closed(self) -> bool:
        return self._core.closed

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Call any API route (a path under ``base_url``) with the client's auth and retries.

        Returns the ``httpx.Response`` of a successful call (status < 400); raises the matching
        ``ScopixError`` otherwise. A redirect (3xx) is returned as it is, not followed (a
        variant's route answers with one). ``timeout=None`` disables the timeout for this call;
        leaving it out uses the client's. POST requests carry an ``Idempotency-Key`` (generated
        unless given) that is reused on every retry, so a retried upload is never stored twice.
        """
        return await self._core.request(
            method,
            path,
            params=params,
            json=json,
            data=data,
            files=files,
            content=content,
            headers=headers,
            timeout=timeout,
            idempotency_key=idempotency_key,
            allow_redirect=True,
        )

    async def aclose(self) -> None:
        """Close the connections. Safe to call more than once."""
        await self._core.aclose()

    async def __aenter__(self) -> Scopix:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} base_url={self.config.base_url!r} "
            f"api_key={self.config.masked_api_key!r}>"
        )
