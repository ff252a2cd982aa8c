"""Run a command with a throwaway PostgreSQL (the tests' own, with pgvector) as the server's
database: ``SCOPIX_SERVER_DATABASE_URL`` points at it while the command runs; it is removed
after. For example ``.venv/bin/python scripts/with_postgres.py scripts/fuzz``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "tests"))
from server_support import start_postgres  # (the same cluster the scaled tests start)


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: with_postgres.py COMMAND [ARGS...]\n")
        return 2
    postgres = start_postgres()
    try:
        env = {**os.environ, "SCOPIX_SERVER_DATABASE_URL": postgres.url}
        return subprocess.run(sys.argv[1:], env=env, check=False).returncode
    finally:
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
