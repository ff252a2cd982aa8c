"""The retry policy as pure functions: decisions, doubling delays, cap, jitter, Retry-After."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from scopix import (
    AuthenticationError,
    CircuitBreakerError,
    QuotaExceededError,
    RateLimitError,
    ResourceNotFoundError,
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
    ServerError,
    ValidationError,
)
from scopix._retry import (
    RetryPolicy,
    backoff_delay,
    is_retryable,
    is_retryable_status,
    parse_retry_after,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "error",
    [RateLimitError(), ServerError(), ScopixConnectionError(), ScopixTimeoutError()],
)
def test_transient_errors_are_retried(error: ScopixError) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValidationError(),
        AuthenticationError(),
        ResourceNotFoundError(),
        QuotaExceededError(),
        CircuitBreakerError(),
        ScopixError("CONFLICT", "409"),
        ValueError("not ours"),
    ],
)
def test_final_errors_are_not_retried(error: Exception) -> None:
    assert not is_retryable(error)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (429, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (408, False),
        (409, False),
        (200, False),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-4", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=lambda: NOW) == expected


def test_parse_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW, tz=timezone.utc) + timedelta(seconds=42)
    header = format_datetime(when, usegmt=True)  # "Wed, 15 Jan 2027 08:00:42 GMT"
    assert parse_retry_after(header, now=lambda: NOW) == pytest.approx(42.0)


def test_parse_retry_after_date_in_the_past_means_now() -> None:
    past = format_datetime(datetime.fromtimestamp(NOW - 60, tz=timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=lambda: NOW) == 0.0


def test_backoff_doubles_from_retry_delay_without_jitter() -> None:
    delays = [backoff_delay(n, base=1.0, jitter=0.0) for n in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_backoff_is_capped() -> None:
    assert backoff_delay(10, base=1.0, cap=30.0, jitter=0.0) == 30.0
    assert backoff_delay(10_000, base=1.0, cap=30.0, jitter=0.0) == 30.0  # no overflow
    # a retry_delay above the cap is honoured as given, never shortened
    assert backoff_delay(0, base=45.0, cap=30.0, jitter=0.0) == 45.0


def test_jitter_only_stretches_up_to_ten_percent() -> None:
    assert backoff_delay(1, base=1.0, random=lambda: 0.0) == 2.0
    assert backoff_delay(1, base=1.0, random=lambda: 1.0) == pytest.approx(2.2)


def test_zero_retry_delay_retries_immediately() -> None:
    assert backoff_delay(3, base=0.0) == 0.0


def policy(**overrides: object) -> RetryPolicy:
    options: dict[str, object] = {"max_retries": 3, "retry_delay": 1.0, "random": lambda: 0.0}
    options.update(overrides)
    return RetryPolicy(**options)  # type: ignore[arg-type]


def test_policy_gives_doubling_delays_then_gives_up() -> None:
    p = policy()
    delays = [p.next_delay(n, ServerError()) for n in range(4)]
    assert delays == [1.0, 2.0, 4.0, None]


def test_policy_never_retries_final_errors() -> None:
    assert policy().next_delay(0, ValidationError()) is None


def test_policy_with_no_retries() -> None:
    assert policy(max_retries=0).next_delay(0, ServerError()) is None


def test_retry_after_replaces_the_computed_delay() -> None:
    assert policy().next_delay(0, RateLimitError(), retry_after=5.0) == 5.0
    assert policy().next_delay(2, ServerError(), retry_after=0.0) == 0.0


def test_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    assert policy(max_retry_after=120.0).next_delay(0, RateLimitError(), retry_after=121.0) is None
    assert policy(max_retry_after=120.0).next_delay(0, RateLimitError(), retry_after=120.0) == 120.0
