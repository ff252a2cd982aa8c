"""Circuit breaker: stop hammering a host that keeps failing, and find out when it is back.

One breaker per host (scheme, host and port). States:

* ``closed``: requests flow. Each retryable failure (5xx, 429, connection error, timeout) adds one
  to a run of consecutive failures; any other answer ends the run. When the run reaches
  ``failure_threshold`` the breaker opens.
* ``open``: requests fail fast with ``CircuitBreakerError`` (nothing is sent) until ``timeout``
  seconds have passed since the last failure; then the breaker is half-open.
* ``half_open``: requests flow again as trials. ``success_threshold`` successes in a row close the
  breaker; one failure opens it again for another ``timeout`` seconds.

The state logic is pure: time comes from an injectable clock, so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

import httpx

from ._exceptions import CircuitBreakerError

__all__: list[str] = []

Clock = Callable[[], float]


class CircuitState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one endpoint (see the module docstring for the rules)."""

    def __init__(
        self,
        endpoint: str,
        *,
        failure_threshold: int,
        success_threshold: int,
        timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.timeout = timeout
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.timeout:
            self._state = CircuitState.HALF_OPEN
            self._successes = 0
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open breaker lets requests through again (0 when not open)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.timeout - (self._clock() - self._opened_at))

    def check(self) -> None:
        """Raise ``CircuitBreakerError`` if the breaker is open; otherwise let the request go."""
        if self.state is CircuitState.OPEN:
            raise CircuitBreakerError(
                endpoint=self.endpoint,
                retry_after=self.retry_after(),
                details={"consecutive_failures": self._failures},
            )

    def record_success(self) -> None:
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self.success_threshold:
                self._close()
        elif state is CircuitState.CLOSED:
            self._failures = 0
        # A success while open comes from a request sent before the breaker opened: it says
        # nothing about the host now, so the breaker waits out its timeout regardless.

    def record_failure(self) -> None:
        state = self.state
        self._failures += 1
        if state is CircuitState.HALF_OPEN or (
            state is CircuitState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._open()
        elif state is CircuitState.OPEN:
            self._opened_at = self._clock()  # still failing: keep it open from now

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()
        self._successes = 0

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._successes = 0


class CircuitBreakerRegistry:
    """Hands out one ``CircuitBreaker`` per host of a client."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        success_threshold: int,
        timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._settings = (failure_threshold, success_threshold, timeout)
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    @staticmethod
    def endpoint_of(url: httpx.URL) -> str:
        port = f":{url.port}" if url.port is not None else ""
        return f"{url.scheme}://{url.host}{port}"

    def for_url(self, url: httpx.URL) -> CircuitBreaker:
        endpoint = self.endpoint_of(url)
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            failures, successes, timeout = self._settings
            breaker = CircuitBreaker(
                endpoint,
                failure_threshold=failures,
                success_threshold=successes,
                timeout=timeout,
                clock=self._clock,
            )
            self._breakers[endpoint] = breaker
        return breaker
