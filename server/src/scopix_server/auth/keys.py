"""API key format: ``scopix_<8 alphanumerics>_<secret>``. Only a SHA-256 of the key is stored.

The 8-character id is public (shown as ``key_prefix``); the secret is 43 URL-safe characters
(256 random bits), so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

__all__ = ["GeneratedKey", "generate_key", "hash_key", "key_prefix", "parse_key", "verify_key"]

_ALNUM = string.ascii_letters + string.digits
_KEY = re.compile(r"^scopix_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{32,128})$")


@dataclass(frozen=True)
class GeneratedKey:
    key: str  # shown once, never stored
    key_id: str
    secret_hash: str


def key_prefix(key_id: str) -> str:
    """The public, displayable part of a key: ``scopix_<key id>``."""
    return f"scopix_{key_id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> GeneratedKey:
    key_id = "".join(secrets.choice(_ALNUM) for _ in range(8))
    key = f"{key_prefix(key_id)}_{secrets.token_urlsafe(32)}"
    return GeneratedKey(key=key, key_id=key_id, secret_hash=hash_key(key))


def parse_key(key: str) -> str | None:
    """The key id of a well-formed key, or ``None``."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def verify_key(key: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), secret_hash)
