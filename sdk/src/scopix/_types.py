"""Small shared typing helpers."""

from __future__ import annotations

from typing import Final, Literal

__all__: list[str] = []


class NotGiven:
    """Marks an argument the caller did not pass (as opposed to passing ``None``).

    ``timeout=None`` means "no timeout"; leaving ``timeout`` out means "use the client's setting".
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
