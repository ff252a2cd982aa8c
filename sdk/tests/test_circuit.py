"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import httpx
import pytest

from scopix import CircuitBreakerError
from scopix._circuit import CircuitBreaker, CircuitBreakerRegistry, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(
        "https://api.test", failure_threshold=3, success_threshold=2, timeout=30.0, clock=clock
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure()


def test_starts_closed_and_lets_requests_through(breaker: CircuitBreaker) -> None:
    assert breaker.state is CircuitState.CLOSED
    breaker.check()
    assert breaker.retry_after() == 0.0


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, 1)
    assert breaker.state is CircuitState.OPEN


def test_a_success_resets_the_run_of_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


def test_open_breaker_fails_fast_with_time_left(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.advance(10)
    with pytest.raises(CircuitBreakerError) as info:
        breaker.check()
    assert info.value.endpoint == "https://api.test"
    assert info.value.retry_after == pytest.approx(20.0)
    assert info.value.details["consecutive_failures"] == 3


def test_half_opens_after_the_timeout(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.advance(29.9)
    assert breaker.state is CircuitState.OPEN
    clock.advance(0.1)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.check()  # trial requests go through


def test_closes_after_success_threshold_in_half_open(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 3)
    clock.advance(30)
    breaker.record_success()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0


def test_one_failure_in_half_open_reopens_for_a_full_timeout(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 3)
    clock.advance(30)
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after() == pytest.approx(30.0)


def test_failures_while_open_extend_it(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    clock.advance(20)
    breaker.record_failure()  # a request sent before it opened, failing late
    clock.advance(20)
    assert breaker.state is CircuitState.OPEN


def test_successes_while_open_do_not_close_it(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 3)
    breaker.record_success()
    breaker.record_success()
    assert breaker.state is CircuitState.OPEN


def test_registry_keeps_one_breaker_per_host(clock: FakeClock) -> None:
    registry = CircuitBreakerRegistry(
        failure_threshold=1, success_threshold=1, timeout=5, clock=clock
    )
    a1 = registry.for_url(httpx.URL("https://a.test/api/v2/files"))
    a2 = registry.for_url(httpx.URL("https://a.test/api/v2/uploads/quota-check"))
    b = registry.for_url(httpx.URL("https://b.test/api/v2/files"))
    other_port = registry.for_url(httpx.URL("https://a.test:8443/api/v2/files"))
    assert a1 is a2
    assert len({id(a1), id(b), id(other_port)}) == 3
    a1.record_failure()
    assert a1.state is CircuitState.OPEN and b.state is CircuitState.CLOSED
    assert other_port.endpoint == "https://a.test:8443"
