"""Signed, expiring URLs for stored objects (downloads without an API key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SignedObject", "Signer", "load_or_create_secret"]


_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: only the canonical unpadded form decodes (no junk, no padding, no spare bits)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def load_or_create_secret(path: Path) -> str:
    """The secret kept in ``path``; created (mode 600) on first use."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


@dataclass(frozen=True)
class SignedObject:
    key: str
    filename: str
    content_type: str
    expires: int
    file_id: str = ""  # the file it was handed out for: the link stops when the file goes


class Signer:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def sign(self, obj: SignedObject) -> str:
        fields = {"k": obj.key, "n": obj.filename, "t": obj.content_type, "e": obj.expires}
        if obj.file_id:
            fields["f"] = obj.file_id
        payload = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def token_for(
        self, key: str, filename: str, content_type: str, ttl: int, *, file_id: str = ""
    ) -> str:
        expires = int(time.time()) + ttl
        return self.sign(SignedObject(key, filename, content_type, expires, file_id))

    def verify(self, token: str, *, now: float | None = None) -> SignedObject | None:
        """The object a token grants, or ``None`` if it is forged, damaged or expired."""
        if len(token) > 4096 or not _TOKEN.match(token):
            return None
        try:
            payload_text, mac_text = token.split(".", 1)
            payload = _unb64(payload_text)
            if not hmac.compare_digest(self._mac(payload), _unb64(mac_text)):
                return None
            data = json.loads(payload)
            obj = SignedObject(
                str(data["k"]),
                str(data["n"]),
                str(data["t"]),
                int(data["e"]),
                str(data.get("f", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if obj.expires < (time.time() if now is None else now):
            return None
        return obj
