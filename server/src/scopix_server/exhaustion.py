"""Failures that are the server's resources', not the request's and not a bug: a full disk, a
read-only or failing volume, a database that is full, busy or gone. They answer 503 with the
cause named (and ``Retry-After``), never a bare 500, wherever in a request they surface.
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError

__all__ = ["unavailable_cause"]

_OS_ERRORS = {
    errno.ENOSPC: "the server's storage is full",
    errno.EDQUOT: "the server's storage quota is used up",
    errno.EROFS: "the server's storage is read-only",
    errno.EIO: "the server's storage reported an I/O error",
    errno.EMFILE: "the server has too many files open",
    errno.ENFILE: "the server has too many files open",
    errno.ENOMEM: "the server is out of memory",
}

# SQLite's messages (its driver gives no codes) and PostgreSQL's SQLSTATE classes
_SQLITE_MESSAGES = {
    "database or disk is full": "the database's disk is full",
    "disk i/o error": "the database's disk reported an I/O error",
    "database is locked": "the database is busy",
    "attempt to write a readonly database": "the database is read-only",
    "unable to open database file": "the database file cannot be opened",
}
_SQLSTATE_CLASSES = {
    "53": "the database is out of resources (disk, memory or connections)",
    "08": "the database cannot be reached",
    "57": "the database is shutting down or not accepting connections",
    "58": "the database reported a system error",
}


def _database_cause(error: DBAPIError) -> str | None:
    original = error.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(state, str) and state[:2] in _SQLSTATE_CLASSES:
        return _SQLSTATE_CLASSES[state[:2]]
    text = str(original).lower()
    for needle, cause in _SQLITE_MESSAGES.items():
        if needle in text:
            return cause
    if error.connection_invalidated:
        return "the connection to the database was lost"
    return None


def unavailable_cause(error: BaseException) -> str | None:
    """What ran out or broke, if ``error`` (or anything it was raised from, or grouped with)
    is a resource failure; ``None`` for anything else."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OS_ERRORS:
            return _OS_ERRORS[current.errno]
        if isinstance(current, DBAPIError):
            cause = _database_cause(current)
            if cause is not None:
                return cause
        pending.extend(getattr(current, "exceptions", ()))  # (exception groups)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None
