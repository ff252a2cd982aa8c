"""``load_dotenv``: read ``SCOPIX_*`` settings from a ``.env`` file (needs ``scopix[dotenv]``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_dotenv"]


def load_dotenv(
    dotenv_path: str | os.PathLike[str] | None = None, *, override: bool = False
) -> bool:
    """Load environment variables from a ``.env`` file; then ``Scopix.from_env()`` sees them.

    Without a path, the nearest ``.env`` in the current directory or its parents is used. Variables
    already set in the environment win unless ``override=True``. Returns ``True`` if a file was
    loaded, ``False`` if none was found.

    Raises:
        ImportError: python-dotenv is not installed.
        FileNotFoundError: ``dotenv_path`` was given and does not exist.
    """
    try:
        import dotenv
    except ImportError:
        raise ImportError(
            "scopix.load_dotenv() needs python-dotenv: pip install 'scopix[dotenv]'"
        ) from None
    if dotenv_path is None:
        # dotenv's own default searches upward from the *calling module's* file, which would be
        # this package; users mean their working directory.
        found = dotenv.find_dotenv(usecwd=True)
        if not found:
            return False
        path = Path(found)
    else:
        path = Path(dotenv_path)
        if not path.is_file():
            raise FileNotFoundError(f"no .env file at {path}")
    return dotenv.load_dotenv(path, override=override)
