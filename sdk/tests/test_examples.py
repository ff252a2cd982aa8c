"""The examples the README points to run, end to end, and show what they claim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.socket
def test_quickstart_tour_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "retry 1/3" in out and "retry 2/3" in out  # the two 503s were retried
    assert "can_proceed=True available=497/500" in out
    assert "ResourceNotFoundError: File 0b6f3c1e-missing not found (NOT_FOUND, HTTP 404" in out
    assert "call 3: CircuitBreakerError" in out
    assert "SyncScopix quota check: available=497" in out
    assert "scopix_Demo1234_" not in out  # the key's secret part is never printed
