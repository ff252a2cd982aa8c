"""Correlation ids and OpenTelemetry tracing (optional: ``pip install 'scopix[tracing]'``).

With ``enable_tracing=True`` every logical request (all its retries included) runs inside one
client span named ``"HTTP <METHOD>"``, and the W3C ``traceparent`` header of that span is sent with
each attempt (unless ``propagate_trace_context=False``). The SDK only uses the OpenTelemetry *API*:
spans go wherever the application's tracer provider sends them.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar, Token
from typing import Any

from ._version import __version__

__all__ = ["is_tracing_available", "set_correlation_id"]

_correlation_id: ContextVar[str | None] = ContextVar("scopix_correlation_id", default=None)


def set_correlation_id(correlation_id: str | None) -> Token[str | None]:
    """Send this ``X-Correlation-ID`` with every request made from the current context.

    Useful to tie SDK calls to the request your own service is handling. Returns a
    ``contextvars.Token``: ``token.var.reset(token)`` restores the previous value. With no
    correlation id set, each logical request gets a fresh one, shared by its retries.
    """
    return _correlation_id.set(correlation_id)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def is_tracing_available() -> bool:
    """Whether the OpenTelemetry API is installed (needed for ``enable_tracing=True``)."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:
        return False


class Tracer:
    """Opens one span per logical request and injects its context into outgoing headers."""

    def __init__(self, *, service_name: str, propagate: bool) -> None:
        if not is_tracing_available():
            raise ImportError(
                "enable_tracing=True needs OpenTelemetry, which is not installed: "
                "pip install 'scopix[tracing]' (or opentelemetry-api), or set enable_tracing=False"
            )
        from opentelemetry import propagate as otel_propagate
        from opentelemetry import trace

        self._trace = trace
        self._propagate = otel_propagate if propagate else None
        self._tracer = trace.get_tracer(service_name, __version__)

    @contextlib.contextmanager
    def span(self, method: str, url: str, host: str | None) -> Iterator[Any]:
        attributes: dict[str, Any] = {"http.request.method": method, "url.full": url}
        if host:
            attributes["server.address"] = host
        with self._tracer.start_as_current_span(
            f"HTTP {method}",
            kind=self._trace.SpanKind.CLIENT,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            yield span

    def inject(self, headers: MutableMapping[str, str]) -> None:
        if self._propagate is not None:
            self._propagate.inject(headers)

    def record_attempt(self, span: Any, attempts: int, status_code: int | None) -> None:
        """Note an attempt on the span; the last one's status is the request's."""
        span.set_attribute("scopix.attempts", attempts)
        if status_code is not None:
            span.set_attribute("http.response.status_code", status_code)
