"""``TransferConfig``: how large files travel (direct uploads in parallel parts)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TransferConfig"]

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's smallest part (except the last)


@dataclass(frozen=True)
class TransferConfig:
    """Tuning of ``files.upload()`` for large files; pass it as ``transfer=``.

    A file larger than ``direct_threshold`` bytes is not streamed through the API: it goes
    straight to storage (S3 presigned URLs, or the server's own signed URLs) in parts of
    ``part_size`` bytes, ``concurrency`` at a time. At most ``concurrency * part_size`` bytes
    are held in memory. A part that fails is retried alone (``max_retries`` of the client).

    With ``resume`` (the default), the upload of a *path* keeps a small state file in
    ``state_dir`` until it completes; uploading the same unchanged file again continues where
    the interrupted upload stopped, sending only the parts the server does not have.
    """

    direct_threshold: int = 100 * MiB  # the API's streaming limit
    part_size: int | None = None  # None: the server's choice (16 MiB on scopix-server)
    concurrency: int = 4
    resume: bool = True
    state_dir: str | os.PathLike[str] | None = None  # default: ~/.cache/scopix/uploads

    def __post_init__(self) -> None:
        if self.direct_threshold < 0:
            raise ValueError(f"direct_threshold must be >= 0 bytes, got {self.direct_threshold}")
        if self.part_size is not None and not MIN_PART_SIZE <= self.part_size <= 5 * 1024**3:
            raise ValueError(
                f"part_size must be between 5 MiB and 5 GiB (S3's limits), got {self.part_size}"
            )
        if not 1 <= self.concurrency <= 64:
            raise ValueError(f"concurrency must be between 1 and 64, got {self.concurrency}")

    @property
    def state_path(self) -> Path:
        """The folder of resume state files."""
        if self.state_dir is not None:
            return Path(self.state_dir)
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        return Path(cache) / "scopix" / "uploads"
