"""``SyncScopix``: the blocking client, a thin driver of the asynchronous one.

Every call is run by the same ``Scopix`` code on a private event loop in a background thread (an
anyio ``BlockingPortal``), so there is one implementation of each operation. The thread is a daemon:
a program that forgets ``close()`` still exits.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from . import _constants as C
from ._base_client import TimeoutArg
from ._client import Scopix
from ._config import ClientConfig
from ._tracing import current_correlation_id, set_correlation_id
from ._types import NOT_GIVEN
from .resources import SyncAgentSearch, SyncChats, SyncFiles, SyncImages, SyncPeople

__all__ = ["SyncScopix"]

T = TypeVar("T")


class _LoopThread:
    """An event loop in a daemon thread, reached through a blocking portal."""

    def __init__(self, *, carry_trace_context: bool) -> None:
        self._carry_trace_context = carry_trace_context
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="scopix-sync-loop", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise RuntimeError("could not start the SyncScopix event loop") from self._failure

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as exc:  # pragma: no cover - only if the loop itself cannot start
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with BlockingPortal() as portal:
            self._portal = portal
            self._ready.set()
            await portal.sleep_until_stopped()

    def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self._portal is None or not self._thread.is_alive():
            raise RuntimeError("This SyncScopix client is closed; create a new one")
        if threading.current_thread() is self._thread:
            raise RuntimeError("SyncScopix cannot be called from its own callbacks; use Scopix")
        # Context variables do not cross threads: carry the caller's correlation id (and tracing
        # context) over so that sync calls are traced and correlated like async ones.
        correlation_id = current_correlation_id()
        otel_context = _capture_otel_context() if self._carry_trace_context else None

        async def run() -> T:
            set_correlation_id(correlation_id)
            with _attached(otel_context):
                return await func(*args, **kwargs)

        return self._portal.call(run)

    def stop(self) -> None:
        portal, self._portal = self._portal, None
        if portal is not None and self._thread.is_alive():
            portal.call(portal.stop)
            self._thread.join(timeout=10)


class SyncScopix:
    """Blocking client of the Scopix API, with the same settings and methods as ``Scopix``.

    Usage::

        with SyncScopix(api_key="scopix_...") as client:
            response = client.request("GET", "/uploads/quota-check", params={"file_count": 1})

    One instance may be shared by threads: their calls run concurrently on the client's loop.
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
        self._attach(
            Scopix(
                api_key,
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
        )

    @classmethod
    def from_config(
        cls, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> SyncScopix:
        """A client with every option of ``config``; see ``Scopix.from_config``."""
        client = cls.__new__(cls)
        client._attach(Scopix.from_config(config, transport=transport))
        return client

    @classmethod
    def from_env(cls, **overrides: Any) -> SyncScopix:
        """A client configured from ``SCOPIX_*`` environment variables; keyword overrides win."""
        return cls.from_config(ClientConfig.from_env(**overrides))

    def _attach(self, async_client: Scopix) -> None:
        self._async = async_client
        self._loop = _LoopThread(carry_trace_context=async_client.config.enable_tracing)
        self.files = SyncFiles(self._loop, async_client.files)
        """Upload, read, list and wait for files."""
        self.images = SyncImages(self._loop, async_client.images)
        """Analyze one image in a single call."""
        self.agent_search = SyncAgentSearch(self._loop, async_client.agent_search)
        """Find images and document passages by what they mean."""
        self.people = SyncPeople(self._loop, async_client.people)
        """The faces in your pictures grouped into people (on servers that do it)."""
        self.chats = SyncChats(self._loop, async_client.chats)
        """Ask questions about your library, in sessions (answers streamed or whole)."""
        self.chat_session = self.chats.session
        """``with client.chat_session(title=...) as chat:``: a session closed at the end."""

    @property
    def config(self) -> ClientConfig:
        return self._async.config

    @property
    def is_closed(self) -> bool:
        return self._async.is_closed

    def request(
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
        """Blocking ``Scopix.request``."""
        return self._loop.call(
            self._async.request,
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
        )

    def close(self) -> None:
        """Close the connections and stop the background loop. Safe to call more than once."""
        if not self._async.is_closed:
            self._loop.call(self._async.aclose)
        self._loop.stop()

    def __enter__(self) -> SyncScopix:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} base_url={self.config.base_url!r} "
            f"api_key={self.config.masked_api_key!r}>"
        )


def _capture_otel_context() -> Any:
    from opentelemetry import context  # present: enable_tracing checked it at construction

    return context.get_current()


class _attached:
    """Attach a captured OpenTelemetry context for the duration of a call (no-op without one)."""

    def __init__(self, otel_context: Any) -> None:
        self._context = otel_context
        self._token: Any = None

    def __enter__(self) -> None:
        if self._context is not None:
            from opentelemetry import context

            self._token = context.attach(self._context)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            from opentelemetry import context

            context.detach(self._token)
