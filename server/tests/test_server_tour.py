"""examples/server_tour.py runs from nothing and shows what it claims."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "server_tour.py"


def test_server_tour_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "scopix-server is running at http://127.0.0.1:" in out
    assert "notes.md    -> document" in out
    assert "status=skipped  same file as before: True" in out
    assert "tagged 'colour': 3 files" in out
    assert "identical: True" in out
    assert "ValidationError 415 UNSUPPORTED_MEDIA_TYPE" in out
    assert "accepted=1 rejected=1 status=partial" in out
    assert "interrupted; the server has parts [1] of 3" in out
    assert "resumed and completed: document, status=processing, deduplicated=False" in out
    assert "mode=retrieval; cites notes.md: True; quotes it: True" in out
    assert "Server stopped and its data folder removed" in out
