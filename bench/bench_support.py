"""What the benchmarks share: a free port and a key made with the real CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_key(data_dir: Path, tenant: str = "bench") -> str:
    """A new API key from ``scopix-server keys create`` (which also creates the database)."""
    return subprocess.run(
        [str(VENV_BIN / "scopix-server"), "keys", "create", "--data-dir", str(data_dir),
         "--tenant", tenant],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
