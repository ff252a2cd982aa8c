"""``ClientConfig``: every setting of a client, validated once, in one frozen object."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import _constants as C

__all__ = ["ClientConfig"]

_HEADER_SAFE = re.compile(r"^[\x21-\x7e]{1,256}$")  # visible ASCII: no spaces, no CR/LF injection
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Configuration of a ``Scopix`` client.

    The first ten fields are the ones ``Scopix(...)`` accepts; the rest are advanced options that
    only a ``ClientConfig`` sets (pass it with ``Scopix.from_config(config)``). Every field is
    validated on construction; a bad value raises ``ValueError`` (``TypeError`` for a wrong type)
    with a message that says how to fix it. Use ``dataclasses.replace(config, ...)`` or
    ``config.replace(...)`` to derive a changed copy.
    """

    api_key: str
    base_url: str = C.DEFAULT_BASE_URL
    timeout: float = C.DEFAULT_TIMEOUT
    max_retries: int = C.DEFAULT_MAX_RETRIES
    retry_delay: float = C.DEFAULT_RETRY_DELAY
    polling_interval: float = C.DEFAULT_POLLING_INTERVAL
    polling_timeout: float = C.DEFAULT_POLLING_TIMEOUT
    tenant_id: str | None = None
    proxy_url: str | None = None
    enable_tracing: bool = False
    # --- advanced options ---
    enable_logging: bool = True
    circuit_breaker_enabled: bool = True
    circuit_breaker_failure_threshold: int = C.DEFAULT_CIRCUIT_BREAKER_FAILURE_THRESHOLD
    circuit_breaker_success_threshold: int = C.DEFAULT_CIRCUIT_BREAKER_SUCCESS_THRESHOLD
    circuit_breaker_timeout: float = C.DEFAULT_CIRCUIT_BREAKER_TIMEOUT
    tracing_service_name: str = C.DEFAULT_TRACING_SERVICE_NAME
    propagate_trace_context: bool = True
    send_correlation_id: bool = True
    send_request_id: bool = True

    def __post_init__(self) -> None:
        for name, validate in _VALIDATORS.items():
            object.__setattr__(self, name, validate(getattr(self, name), name))

    # --- derived values ---

    @property
    def auth_header(self) -> dict[str, str]:
        """The header for custom HTTP requests: ``{"Authorization": "Bearer scopix_..."}``."""
        return {C.HEADER_AUTHORIZATION: f"Bearer {self.api_key}"}

    @property
    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request: authorization, and the tenant when one is set."""
        headers = self.auth_header
        if self.tenant_id is not None:
            headers[C.HEADER_TENANT_ID] = self.tenant_id
        return headers

    @property
    def masked_api_key(self) -> str:
        """The API key with its secret part hidden, safe for logs: ``scopix_Ab12CdEf…``."""
        return mask_api_key(self.api_key)

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        fields = [
            f"{f.name}={self.masked_api_key if f.name == 'api_key' else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        ]
        return f"ClientConfig({', '.join(fields)})"

    # --- environment ---

    @classmethod
    def from_env(cls, **overrides: Any) -> ClientConfig:
        """Build a config from ``SCOPIX_*`` environment variables; keyword overrides win.

        Read: SCOPIX_API_KEY, SCOPIX_BASE_URL, SCOPIX_TIMEOUT, SCOPIX_MAX_RETRIES,
        SCOPIX_RETRY_DELAY, SCOPIX_POLLING_INTERVAL, SCOPIX_POLLING_TIMEOUT, SCOPIX_TENANT_ID,
        SCOPIX_PROXY_URL, SCOPIX_ENABLE_TRACING. Unset or empty variables keep the default. A
        malformed value raises ``ValueError`` naming the variable. Call ``scopix.load_dotenv()``
        first to read a ``.env`` file.
        """
        env = os.environ
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"from_env() got unexpected keyword argument(s): {', '.join(unknown)}; "
                f"valid names are the ClientConfig fields: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, (var, parse) in _ENV_FIELDS.items():
            if name in overrides:
                continue
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            values[name] = _VALIDATORS[name](parse(raw.strip(), var), var)
        values.update(overrides)
        if values.get("api_key") is None:
            raise ValueError(
                f"No API key: set the {C.ENV_API_KEY} environment variable (call "
                "scopix.load_dotenv() first to read it from a .env file), or pass api_key=..."
            )
        return cls(**values)


def mask_api_key(api_key: str) -> str:
    """Show the public key id (``scopix_`` + 8 characters) and hide the secret."""
    visible = len(C.API_KEY_PREFIX) + 8
    if not api_key.startswith(C.API_KEY_PREFIX) or len(api_key) <= visible:
        return "***"
    return api_key[:visible] + "…"


# --- validators: (value, label) -> normalised value; label names the field or the env variable ---


def _api_key(value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{label} must be a string, got {type(value).__name__}")
    if value != value.strip():
        raise ValueError(
            f"{label} has leading or trailing whitespace: strip it (a newline copied from a "
            "secrets file or .env is the usual cause)"
        )
    if not value.startswith(C.API_KEY_PREFIX):
        raise ValueError(
            f"Invalid {label}: API key must match format: scopix_... (got a "
            f"{len(value)}-character value that does not start with 'scopix_'). Create a key "
            "in the Scopix console, or with `scopix-server keys create` on your own server."
        )
    if not C.API_KEY_PATTERN.match(value):
        raise ValueError(
            f"Invalid {label}: after 'scopix_' a key has at least {C.API_KEY_MIN_SUFFIX} "
            "characters from A-Z, a-z, 0-9, '_' and '-'; this one is truncated or contains "
            "other characters. Copy the whole key as it was shown when it was created."
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_url(value: Any, label: str, example: str) -> tuple[str, str]:
    if not isinstance(value, str):
        raise TypeError(f"{label} must be a string URL, got {type(value).__name__}")
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError(f"{label} is not a valid URL; expected something like {example}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"{label} must be an absolute http(s) URL such as {example}, got {_redact_url(value)!r}"
        )
    return parts.scheme, host


def _base_url(value: Any, label: str) -> str:
    example = C.DEFAULT_BASE_URL
    scheme, host = _split_url(value, label, example)
    url = str(value).strip()
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"{label} must not contain a query or fragment, got {url!r}")
    if parts.username or parts.password:
        raise ValueError(f"{label} must not contain credentials; the API key authenticates")
    if scheme == "http" and not _is_loopback(host):
        raise ValueError(
            f"{label} must use HTTPS: the API key would travel in clear text over {url!r}. "
            "Use https://..., or run the server on localhost (plain http is allowed only for "
            "localhost, 127.0.0.0/8 and ::1)."
        )
    return url.rstrip("/")


def _proxy_url(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and urlsplit(value.strip()).scheme.startswith("socks"):
        raise ValueError(
            f"{label} must be an http:// or https:// proxy; SOCKS proxies are not supported "
            f"(got {_redact_url(value)!r})"
        )
    _split_url(value, label, "http://proxy.example.com:3128")
    return str(value).strip()


def _redact_url(url: str) -> str:
    """Drop credentials from a URL before it goes into a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.username or parts.password:
        netloc = "***@" + parts.netloc.rsplit("@", 1)[-1]
        return parts._replace(netloc=netloc).geturl()
    return url


def _tenant_id(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{label} must be a string, got {type(value).__name__}")
    if not _HEADER_SAFE.match(value):
        raise ValueError(
            f"{label} must be 1-256 visible ASCII characters without spaces (it is sent as the "
            f"X-Tenant-ID header), got {value!r}"
        )
    return value


def _number(*, minimum: float, inclusive: bool) -> Callable[[Any, str], float]:
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"

    def validate(value: Any, label: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{label} must be a number of seconds, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number) or number < minimum or (not inclusive and number == minimum):
            raise ValueError(f"{label} must be a finite number {bound} (seconds), got {value!r}")
        return number

    return validate


def _count(*, minimum: int) -> Callable[[Any, str], int]:
    def validate(value: Any, label: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{label} must be a whole number, got {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{label} must be >= {minimum}, got {value}")
        return value

    return validate


def _flag(value: Any, label: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{label} must be True or False, got {type(value).__name__}")
    return value


def _name(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    return value


_VALIDATORS: dict[str, Callable[[Any, str], Any]] = {
    "api_key": _api_key,
    "base_url": _base_url,
    "timeout": _number(minimum=0, inclusive=False),
    "max_retries": _count(minimum=0),
    "retry_delay": _number(minimum=0, inclusive=True),
    "polling_interval": _number(minimum=0, inclusive=False),
    "polling_timeout": _number(minimum=0, inclusive=False),
    "tenant_id": _tenant_id,
    "proxy_url": _proxy_url,
    "enable_tracing": _flag,
    "enable_logging": _flag,
    "circuit_breaker_enabled": _flag,
    "circuit_breaker_failure_threshold": _count(minimum=1),
    "circuit_breaker_success_threshold": _count(minimum=1),
    "circuit_breaker_timeout": _number(minimum=0, inclusive=True),
    "tracing_service_name": _name,
    "propagate_trace_context": _flag,
    "send_correlation_id": _flag,
    "send_request_id": _flag,
}


# --- environment parsing: raw string -> typed value, errors name the variable ---


def _env_str(raw: str, var: str) -> str:  # noqa: ARG001 - same shape as the other parsers
    return raw


def _env_float(raw: str, var: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{var} must be a number of seconds (e.g. 30), got {raw!r}") from None


def _env_int(raw: str, var: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{var} must be a whole number (e.g. 3), got {raw!r}") from None


def _env_bool(raw: str, var: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{var} must be one of true/false, 1/0, yes/no, on/off; got {raw!r}")


_ENV_FIELDS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "api_key": (C.ENV_API_KEY, _env_str),
    "base_url": (C.ENV_BASE_URL, _env_str),
    "timeout": (C.ENV_TIMEOUT, _env_float),
    "max_retries": (C.ENV_MAX_RETRIES, _env_int),
    "retry_delay": (C.ENV_RETRY_DELAY, _env_float),
    "polling_interval": (C.ENV_POLLING_INTERVAL, _env_float),
    "polling_timeout": (C.ENV_POLLING_TIMEOUT, _env_float),
    "tenant_id": (C.ENV_TENANT_ID, _env_str),
    "proxy_url": (C.ENV_PROXY_URL, _env_str),
    "enable_tracing": (C.ENV_ENABLE_TRACING, _env_bool),
}
