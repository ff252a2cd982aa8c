"""Scopix.from_env and load_dotenv: explicit arguments > environment > defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import scopix
from scopix import ClientConfig, Scopix, SyncScopix
from sdk_support import VALID_KEY

FULL_ENV = {
    "SCOPIX_API_KEY": VALID_KEY,
    "SCOPIX_BASE_URL": "http://localhost:8000/api/v2",
    "SCOPIX_TIMEOUT": "45",
    "SCOPIX_MAX_RETRIES": "7",
    "SCOPIX_RETRY_DELAY": "0.25",
    "SCOPIX_POLLING_INTERVAL": "5",
    "SCOPIX_POLLING_TIMEOUT": "900",
    "SCOPIX_TENANT_ID": "acme",
    "SCOPIX_PROXY_URL": "http://proxy.internal:3128",
    "SCOPIX_ENABLE_TRACING": "false",
}


@pytest.fixture
def full_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)


def test_every_variable_is_read(full_env: None) -> None:
    config = ClientConfig.from_env()
    assert config.api_key == VALID_KEY
    assert config.base_url == "http://localhost:8000/api/v2"
    assert config.timeout == 45.0
    assert config.max_retries == 7
    assert config.retry_delay == 0.25
    assert config.polling_interval == 5.0
    assert config.polling_timeout == 900.0
    assert config.tenant_id == "acme"
    assert config.proxy_url == "http://proxy.internal:3128"
    assert config.enable_tracing is False


def test_overrides_win_and_advanced_fields_can_be_set(full_env: None) -> None:
    config = ClientConfig.from_env(timeout=60.0, tenant_id=None, circuit_breaker_enabled=False)
    assert config.timeout == 60.0
    assert config.tenant_id is None  # an explicit None beats the environment
    assert config.circuit_breaker_enabled is False
    assert config.max_retries == 7


def test_defaults_fill_what_the_environment_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPIX_API_KEY", VALID_KEY)
    monkeypatch.setenv("SCOPIX_TIMEOUT", "  ")  # blank counts as unset
    assert ClientConfig.from_env() == ClientConfig(api_key=VALID_KEY)


def test_values_are_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPIX_API_KEY", f"  {VALID_KEY}\n")
    monkeypatch.setenv("SCOPIX_MAX_RETRIES", " 2 ")
    config = ClientConfig.from_env()
    assert config.api_key == VALID_KEY and config.max_retries == 2


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("SCOPIX_TIMEOUT", "abc", "SCOPIX_TIMEOUT must be a number"),
        ("SCOPIX_TIMEOUT", "-5", "SCOPIX_TIMEOUT must be a finite number > 0"),
        ("SCOPIX_MAX_RETRIES", "2.5", "SCOPIX_MAX_RETRIES must be a whole number"),
        ("SCOPIX_MAX_RETRIES", "-1", "SCOPIX_MAX_RETRIES must be >= 0"),
        ("SCOPIX_RETRY_DELAY", "soon", "SCOPIX_RETRY_DELAY"),
        ("SCOPIX_POLLING_INTERVAL", "0", "SCOPIX_POLLING_INTERVAL"),
        ("SCOPIX_POLLING_TIMEOUT", "1e999", "SCOPIX_POLLING_TIMEOUT"),
        ("SCOPIX_ENABLE_TRACING", "maybe", "SCOPIX_ENABLE_TRACING must be one of"),
        ("SCOPIX_BASE_URL", "http://api.example.com", "SCOPIX_BASE_URL must use HTTPS"),
        ("SCOPIX_PROXY_URL", "socks5://p:1", "SCOPIX_PROXY_URL"),
        ("SCOPIX_TENANT_ID", "a b", "SCOPIX_TENANT_ID"),
        ("SCOPIX_API_KEY", "nope", "Invalid SCOPIX_API_KEY"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, hint: str
) -> None:
    monkeypatch.setenv("SCOPIX_API_KEY", VALID_KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=hint):
        ClientConfig.from_env()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False), ("off", False)],
)
def test_boolean_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("SCOPIX_API_KEY", VALID_KEY)
    monkeypatch.setenv("SCOPIX_ENABLE_TRACING", raw)
    assert ClientConfig.from_env().enable_tracing is expected


def test_missing_key_says_where_to_put_it() -> None:
    with pytest.raises(ValueError, match="set the SCOPIX_API_KEY environment variable"):
        ClientConfig.from_env()


def test_key_can_come_from_an_override() -> None:
    assert ClientConfig.from_env(api_key=VALID_KEY).api_key == VALID_KEY


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="timeuot"):
        ClientConfig.from_env(api_key=VALID_KEY, timeuot=3)


@pytest.mark.anyio
async def test_scopix_from_env(full_env: None) -> None:
    async with Scopix.from_env(timeout=60.0) as client:
        assert client.config.timeout == 60.0
        assert client.config.tenant_id == "acme"


def test_sync_scopix_from_env(full_env: None) -> None:
    with SyncScopix.from_env(max_retries=0) as client:
        assert client.config.max_retries == 0
        assert client.config.base_url == "http://localhost:8000/api/v2"


# --- .env files ---


def write_env(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_load_dotenv_finds_the_file_in_the_working_directory_or_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(tmp_path / ".env", SCOPIX_API_KEY=VALID_KEY, SCOPIX_TIMEOUT="12")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert scopix.load_dotenv() is True
    config = ClientConfig.from_env()
    assert config.api_key == VALID_KEY and config.timeout == 12.0


def test_load_dotenv_keeps_existing_variables_unless_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env(tmp_path / "custom.env", SCOPIX_TIMEOUT="12")
    monkeypatch.setenv("SCOPIX_TIMEOUT", "99")
    scopix.load_dotenv(env_file)
    assert ClientConfig.from_env(api_key=VALID_KEY).timeout == 99.0
    scopix.load_dotenv(env_file, override=True)
    assert ClientConfig.from_env(api_key=VALID_KEY).timeout == 12.0


def test_load_dotenv_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scopix.load_dotenv() is False
    with pytest.raises(FileNotFoundError, match=r"no \.env file"):
        scopix.load_dotenv(tmp_path / "missing.env")


def test_load_dotenv_names_the_extra_when_python_dotenv_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)  # makes `import dotenv` fail
    with pytest.raises(ImportError, match=r"pip install 'scopix\[dotenv\]'"):
        scopix.load_dotenv()
