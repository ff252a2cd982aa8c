"""The README's main job (``scripts/demo`` runs examples/demo.py) works from nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo.py"

pytestmark = pytest.mark.socket


def test_the_demo_describes_every_sample() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--once"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "6 succeeded, 0 failed" in out
    assert "text: MAIN STREET / BAKERY OPEN 7-19" in out  # OCR of a photo
    assert "Invoice 2026-0412" in out  # OCR of the scanned page
    assert "document, 2 pages; description completed" in out  # the text PDF
    assert "Board meeting minutes" in out  # the DOCX
    assert 'A picture with the text "MAIN STREET / BAKERY OPEN 7-19".' in out  # local, in words
    assert 'A 2-page PDF document titled "Annual Report 2025"' in out
    # search by meaning: the best answer to a question worded unlike the file
    asked = out.split("how much money did the company make last year")[1].splitlines()
    assert "annual-report.pdf (page 1" in asked[1]
    asked = out.split("where can I buy bread")[1].splitlines()
    assert "street-sign.jpg" in asked[1]
    assert "Server stopped and its data folder removed." in out
