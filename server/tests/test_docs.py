"""The server README documents every setting (and with the right environment name)."""

from __future__ import annotations

from pathlib import Path

from scopix_server import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [
        f"SCOPIX_SERVER_{name.upper()}"
        for name in Settings.model_fields
        if f"`SCOPIX_SERVER_{name.upper()}`" not in text
    ]
    assert missing == [], f"document these settings in server/README.md: {missing}"


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []
