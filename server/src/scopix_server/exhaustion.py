"""Failures that are the server's resources', not the request's and not a bug: a full disk, a
read-only or failing volume, a database that is full, busy or gone. They answer 503 with the
cause named (and ``Retry-After``), never a bare 500, wherever in a request they surface.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError

__all__ = ["unavailable_cause", "unstorable_value"]

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


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, what it was raised from, and what it is grouped with, each once."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(getattr(current, "exceptions", ()))  # (exception groups)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def unavailable_cause(error: BaseException) -> str | None:
    """What ran out or broke, if ``error`` (or anything it was raised from, or grouped with)
    is a resource failure; ``None`` for anything else."""
    for current in _chain(error):
        if isinstance(current, OSError) and current.errno in _OS_ERRORS:
            return _OS_ERRORS[current.errno]
        if isinstance(current, DBAPIError):
            cause = _database_cause(current)
            if cause is not None:
                return cause
    return None


# PostgreSQL's data exceptions that a value sent to it causes (SQLite stores them as they are):
# the request's fault, not the server's (a 422, not a 503)
_UNSTORABLE = {
    "22001": "it is longer than its column allows",
    "22003": "a number is out of range",
    "22021": "it holds a character the database cannot store",
    "22P05": "it holds a character the database cannot store",
}


def unstorable_value(error: BaseException) -> str | None:
    """Why the database refused a value of the request, if that is what ``error`` comes from."""
    for current in _chain(error):
        if isinstance(current, DBAPIError):
            state = getattr(current.orig, "sqlstate", None) or getattr(current.orig, "pgcode", None)
            if state in _UNSTORABLE:
                return _UNSTORABLE[state]
    return None
