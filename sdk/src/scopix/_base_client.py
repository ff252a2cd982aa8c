"""The transport core shared by every resource: headers, retries, circuit breaker, tracing, logging.

One *logical* request (what the caller asked for) may take several HTTP *attempts*. Per logical
request there is one correlation id, one ``Idempotency-Key`` (POST) and one tracing span; each
attempt gets its own ``X-Request-ID``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import platform
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx

from . import _constants as C
from ._circuit import CircuitBreaker, CircuitBreakerRegistry
from ._config import ClientConfig
from ._errors import make_status_error, unexpected_response
from ._exceptions import (
    CircuitBreakerError,
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
)
from ._retry import RetryPolicy, is_retryable, parse_retry_after, should_retry
from ._tracing import Tracer, current_correlation_id
from ._types import NOT_GIVEN, NotGiven
from ._version import __version__

__all__: list[str] = []

USER_AGENT = (
    f"scopix-python/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"
)

TimeoutArg = float | httpx.Timeout | None | NotGiven


def _status_error(response: httpx.Response) -> ScopixError:
    """The error of a 4xx/5xx answer, or of a redirect the call did not ask for (not followed,
    since the client sends the API key: behind a captive portal or misrouted proxy it is not
    the API's answer)."""
    if response.status_code >= 400:
        return make_status_error(response)
    return unexpected_response(response, "a redirect that the client does not follow")


def http2_available() -> bool:
    return importlib.util.find_spec("h2") is not None


class HTTPCore:
    """Sends requests for a client; owns (or borrows) one ``httpx.AsyncClient``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.logger = logging.getLogger(C.LOGGER_NAME)
        self.policy = RetryPolicy(max_retries=config.max_retries, retry_delay=config.retry_delay)
        self.breakers: CircuitBreakerRegistry | None = (
            CircuitBreakerRegistry(
                failure_threshold=config.circuit_breaker_failure_threshold,
                success_threshold=config.circuit_breaker_success_threshold,
                timeout=config.circuit_breaker_timeout,
            )
            if config.circuit_breaker_enabled
            else None
        )
        self.tracer: Tracer | None = (
            Tracer(
                service_name=config.tracing_service_name,
                propagate=config.propagate_trace_context,
            )
            if config.enable_tracing
            else None
        )
        # Injectable for tests that check delays without waiting for them.
        self.sleep: Callable[[float], Awaitable[None]] = anyio.sleep
        self.closed = False
        if http_client is not None:
            self.http = http_client
            self.owns_http = False
        else:
            self.http = httpx.AsyncClient(
                timeout=httpx.Timeout(config.timeout),
                # A given transport (tests, custom stacks) replaces the proxy mount.
                proxy=config.proxy_url if transport is None else None,
                transport=transport,
                http2=transport is None and http2_available(),
                follow_redirects=False,
            )
            self.owns_http = True

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            if self.owns_http:
                await self.http.aclose()

    def url(self, path: str) -> httpx.URL:
        if "://" in path:
            raise ValueError(
                f"expected a path relative to base_url (such as '/files'), got the URL {path!r}"
            )
        return httpx.URL(f"{self.config.base_url}/{path.lstrip('/')}")

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
        allow_redirect: bool = False,
    ) -> httpx.Response:
        """Send one logical request with retries; return the response or raise a ``ScopixError``.

        A redirect (3xx) is not followed; unless ``allow_redirect`` (a route that answers with
        one, such as a variant's signed URL), it raises ``UnexpectedResponseError``: behind a
        captive portal or a misrouted proxy it is not the API's answer."""
        if self.closed:
            raise RuntimeError(
                "This Scopix client is closed; create a new one "
                "(tip: `async with Scopix(...) as client:` closes it for you at the end)"
            )
        method = method.upper()
        url = self.url(path)
        fixed_headers = self._logical_headers(method, idempotency_key)
        if headers:
            fixed_headers.update(headers)
        request_kwargs: dict[str, Any] = {
            "params": params,
            "json": json,
            "data": data,
            "files": files,
            "content": content,
            "timeout": self.config.timeout if isinstance(timeout, NotGiven) else timeout,
            "allow_redirect": allow_redirect,
        }
        breaker = self.breakers.for_url(url) if self.breakers is not None else None
        if self.tracer is None:
            return await self._send_with_retries(
                method, url, fixed_headers, request_kwargs, breaker, span=None
            )
        with self.tracer.span(method, str(url), url.host) as span:
            return await self._send_with_retries(
                method, url, fixed_headers, request_kwargs, breaker, span=span
            )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: str = "text/event-stream",
    ) -> AsyncIterator[httpx.Response]:
        """Send one request whose answer is read as it arrives (server-sent events). It is
        retried like any other until its response starts; never once its body is being read.
        An error status raises the ``ScopixError`` of that status; a redirect raises
        ``UnexpectedResponseError``."""
        if self.closed:
            raise RuntimeError("This Scopix client is closed; create a new one")
        method = method.upper()
        url = self.url(path)
        headers = self._logical_headers(method, None)
        headers["Accept"] = accept
        request_kwargs: dict[str, Any] = {
            "params": params,
            "json": json,
            # (the read timeout bounds the gap between two events, not the whole answer)
            "timeout": self.config.timeout,
            "stream": True,
        }
        breaker = self.breakers.for_url(url) if self.breakers is not None else None
        response = await self._send_with_retries(
            method, url, headers, request_kwargs, breaker, span=None
        )
        try:
            yield response
        finally:
            await response.aclose()

    def _logical_headers(self, method: str, idempotency_key: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **self.config.default_headers,
        }
        if self.config.send_correlation_id:
            headers[C.HEADER_CORRELATION_ID] = current_correlation_id() or uuid.uuid4().hex
        if method == "POST":
            headers[C.HEADER_IDEMPOTENCY_KEY] = idempotency_key or f"scopix-{uuid.uuid4().hex}"
        return headers

    async def _send_with_retries(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        request_kwargs: dict[str, Any],
        breaker: CircuitBreaker | None,
        *,
        span: Any,
    ) -> httpx.Response:
        last_error: ScopixError | None = None
        retry_number = 0
        while True:
            if breaker is not None:
                try:
                    breaker.check()
                except CircuitBreakerError as open_error:
                    raise open_error from last_error
            attempt_headers = dict(headers)
            if self.config.send_request_id:
                attempt_headers[C.HEADER_REQUEST_ID] = f"req_{uuid.uuid4().hex}"
            if self.tracer is not None:
                self.tracer.inject(attempt_headers)
            started = time.perf_counter()
            error, response = await self._attempt(method, url, attempt_headers, request_kwargs)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if self.tracer is not None:
                self.tracer.record_attempt(
                    span, retry_number + 1, response.status_code if response is not None else None
                )
            if error is None and response is not None:
                if breaker is not None:
                    breaker.record_success()
                self._log(
                    logging.DEBUG,
                    "%s %s -> %d in %.0f ms (attempt %d, request_id=%s)",
                    method,
                    url,
                    response.status_code,
                    elapsed_ms,
                    retry_number + 1,
                    response.headers.get(C.HEADER_REQUEST_ID, "-"),
                )
                return response
            assert error is not None
            if breaker is not None:
                if is_retryable(error):
                    breaker.record_failure()
                else:
                    breaker.record_success()  # the host answered sensibly; it is healthy
            retry_after = (
                parse_retry_after(response.headers.get(C.HEADER_RETRY_AFTER))
                if response is not None
                else None
            )
            delay = self.policy.next_delay(retry_number, error, retry_after=retry_after)
            if response is not None and not should_retry(
                response.headers.get(C.HEADER_SHOULD_RETRY)
            ):
                delay = None
            if delay is None:
                self._log(
                    logging.DEBUG,
                    "%s %s failed after %d attempt(s): %s",
                    method,
                    url,
                    retry_number + 1,
                    error,
                )
                raise error
            self._log(
                logging.WARNING,
                "%s %s failed: %s; retry %d/%d in %.2fs",
                method,
                url,
                error,
                retry_number + 1,
                self.policy.max_retries,
                delay,
            )
            last_error = error
            await self.sleep(delay)
            retry_number += 1

    async def _attempt(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        request_kwargs: dict[str, Any],
    ) -> tuple[ScopixError | None, httpx.Response | None]:
        """One HTTP attempt: (None, response) on success, (error, response-or-None) on failure."""
        kwargs = dict(request_kwargs)
        stream = bool(kwargs.pop("stream", False))
        allow_redirect = bool(kwargs.pop("allow_redirect", False))
        request = self.http.build_request(method, url, headers=headers, **kwargs)
        try:
            response = await self.http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            error: ScopixError = ScopixTimeoutError(
                f"{method} {url} timed out ({type(exc).__name__}); raise `timeout` if the "
                "operation needs longer",
                details={"method": method, "url": str(url)},
            )
            error.__cause__ = exc
            return error, None
        except httpx.RequestError as exc:
            error = ScopixConnectionError(
                f"Could not complete {method} {url}: {exc or type(exc).__name__}",
                details={"method": method, "url": str(url)},
            )
            error.__cause__ = exc
            return error, None
        if response.status_code >= 400 or (response.status_code >= 300 and not allow_redirect):
            if stream:  # (the error's body is read; the stream ends here)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return _status_error(response), response
        return None, response

    def _log(self, level: int, message: str, *args: Any) -> None:
        if self.config.enable_logging:
            self.logger.log(level, message, *args)
