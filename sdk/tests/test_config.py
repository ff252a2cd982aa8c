"""ClientConfig: fields, defaults, validation on construction, and never leaking the key."""

from __future__ import annotations

import dataclasses

import pytest

from scopix import ClientConfig, Scopix, SyncScopix
from sdk_support import VALID_KEY


def test_defaults_and_advanced_fields() -> None:
    config = ClientConfig(api_key=VALID_KEY)
    expected = {
        "api_key": VALID_KEY,
        "base_url": "https://api.scopix.ai/api/v2",
        "timeout": 300.0,
        "max_retries": 3,
        "retry_delay": 1.0,
        "polling_interval": 2.0,
        "polling_timeout": 360.0,
        "tenant_id": None,
        "proxy_url": None,
        "enable_tracing": False,
        "enable_logging": True,
        "circuit_breaker_enabled": True,
        "circuit_breaker_failure_threshold": 5,
        "circuit_breaker_success_threshold": 2,
        "circuit_breaker_timeout": 30.0,
        "tracing_service_name": "scopix-sdk",
        "propagate_trace_context": True,
        "send_correlation_id": True,
        "send_request_id": True,
    }
    assert dataclasses.asdict(config) == expected
    # field order: the ten basic settings first, as in the seed
    assert [f.name for f in dataclasses.fields(ClientConfig)] == list(expected)


def test_auth_and_default_headers() -> None:
    config = ClientConfig(api_key=VALID_KEY, tenant_id="acme")
    assert config.auth_header == {"Authorization": f"Bearer {VALID_KEY}"}
    assert config.default_headers == {
        "Authorization": f"Bearer {VALID_KEY}",
        "X-Tenant-ID": "acme",
    }
    assert "X-Tenant-ID" not in ClientConfig(api_key=VALID_KEY).default_headers


def test_config_is_frozen_and_replace_revalidates() -> None:
    config = ClientConfig(api_key=VALID_KEY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timeout = 5.0  # type: ignore[misc]
    assert config.replace(timeout=5).timeout == 5.0
    with pytest.raises(ValueError, match="timeout"):
        config.replace(timeout=-1)


def test_ints_are_accepted_for_seconds_and_stored_as_floats() -> None:
    config = ClientConfig(api_key=VALID_KEY, timeout=30, retry_delay=0)
    assert config.timeout == 30.0 and isinstance(config.timeout, float)
    assert config.retry_delay == 0.0


def test_base_url_trailing_slash_is_dropped() -> None:
    config = ClientConfig(api_key=VALID_KEY, base_url="https://example.com/api/v2/")
    assert config.base_url == "https://example.com/api/v2"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/api/v2",
        "http://LOCALHOST/api/v2",
        "http://127.0.0.1:8000/api/v2",
        "http://127.8.9.10/api/v2",
        "http://[::1]:8000/api/v2",
        "https://api.example.com/api/v2",
    ],
)
def test_https_or_loopback_urls_are_accepted(url: str) -> None:
    assert ClientConfig(api_key=VALID_KEY, base_url=url).base_url == url


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://api.example.com/api/v2", "must use HTTPS"),
        ("http://10.0.0.5/api/v2", "must use HTTPS"),
        ("http://localhost.evil.com/api/v2", "must use HTTPS"),
        ("ftp://example.com", "absolute http"),
        ("api.scopix.ai/api/v2", "absolute http"),
        ("", "absolute http"),
        ("https://example.com/api/v2?x=1", "query or fragment"),
        ("https://user:pw@example.com/api/v2", "credentials"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
def test_bad_base_urls_are_refused_with_a_fix(url: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        ClientConfig(api_key=VALID_KEY, base_url=url)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("invalid_key", "API key must match format: scopix_"),
        ("sk-" + "a" * 40, "does not start with 'scopix_'"),
        ("scopix_short", "at least 20"),
        ("scopix_" + "a" * 19, "at least 20"),
        ("scopix_" + "a" * 30 + "!", "other characters"),
        (VALID_KEY + "\n", "whitespace"),
        (" " + VALID_KEY, "whitespace"),
    ],
)
def test_bad_api_keys_are_refused(key: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint) as info:
        ClientConfig(api_key=key)
    assert key.strip() not in str(info.value)  # a wrong secret is never echoed back


def test_api_key_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="api_key must be a string"):
        ClientConfig(api_key=None)  # type: ignore[arg-type]


def test_minimum_valid_key_is_accepted() -> None:
    assert ClientConfig(api_key="scopix_" + "a" * 20).api_key.endswith("a")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("timeout", -1, ValueError),
        ("timeout", 0, ValueError),
        ("timeout", float("inf"), ValueError),
        ("timeout", float("nan"), ValueError),
        ("timeout", "30", TypeError),
        ("max_retries", -1, ValueError),
        ("max_retries", 1.5, TypeError),
        ("max_retries", True, TypeError),
        ("retry_delay", -0.5, ValueError),
        ("polling_interval", 0, ValueError),
        ("polling_timeout", -3, ValueError),
        ("circuit_breaker_failure_threshold", 0, ValueError),
        ("circuit_breaker_success_threshold", 0, ValueError),
        ("circuit_breaker_timeout", -1, ValueError),
        ("enable_tracing", "yes", TypeError),
        ("tracing_service_name", "", ValueError),
        ("tenant_id", "two words", ValueError),
        ("tenant_id", "acme\r\nX-Evil: 1", ValueError),
        ("tenant_id", 42, TypeError),
    ],
)
def test_bad_values_are_refused_naming_the_field(field: str, value: object, error: type) -> None:
    with pytest.raises(error, match=field):
        ClientConfig(api_key=VALID_KEY, **{field: value})


@pytest.mark.parametrize(
    ("proxy", "hint"),
    [
        ("socks5://proxy:1080", "SOCKS proxies are not supported"),
        ("proxy.example.com:3128", "absolute http"),
        ("ftp://proxy", "absolute http"),
    ],
)
def test_bad_proxy_urls_are_refused(proxy: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        ClientConfig(api_key=VALID_KEY, proxy_url=proxy)


def test_proxy_credentials_never_appear_in_errors() -> None:
    with pytest.raises(ValueError) as info:
        ClientConfig(api_key=VALID_KEY, proxy_url="socks5://bob:hunter2@proxy:1080")
    assert "hunter2" not in str(info.value)


def test_http_and_https_proxies_are_accepted() -> None:
    for proxy in ("http://proxy.example.com:3128", "https://bob:pw@proxy.example.com"):
        assert ClientConfig(api_key=VALID_KEY, proxy_url=proxy).proxy_url == proxy


def test_repr_masks_the_key() -> None:
    config = ClientConfig(api_key=VALID_KEY)
    text = repr(config)
    assert VALID_KEY not in text
    assert "scopix_Ab12CdEf…" in text
    assert "timeout=300.0" in text


@pytest.mark.parametrize("client_class", [Scopix, SyncScopix])
def test_clients_validate_on_construction(client_class: type) -> None:
    with pytest.raises(ValueError, match="API key must match format"):
        client_class(api_key="invalid_key")
    with pytest.raises(ValueError, match="must use HTTPS"):
        client_class(VALID_KEY, base_url="http://api.example.com")


def test_client_repr_masks_the_key() -> None:
    client = Scopix(VALID_KEY)
    assert VALID_KEY not in repr(client)
    assert "scopix_Ab12CdEf" in repr(client)


def test_from_config_requires_a_client_config() -> None:
    with pytest.raises(TypeError, match="ClientConfig"):
        Scopix.from_config({"api_key": VALID_KEY})  # type: ignore[arg-type]
