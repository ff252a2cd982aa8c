"""Citations in a model's answer, checked while it is being written.

A citation is ``[file:<id>]`` or ``[file:<id> p.<page>]`` (spaces and tabs allowed inside, no
other white space, ASCII digits: the console reads them by the same rule). It is kept only when
a tool returned that file in this turn, and its page only when a tool returned that page; any
other is removed with the spaces before it, so an answer never points at a file the tenant does
not own or the tools did not find. A kept citation is written out in that canonical form.
``CitedText`` does this on the text as it streams in: what it releases is final, and the
released pieces joined are the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CitedText"]

_UUID = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
_CITATION = re.compile(
    rf"([ \t]*)\[file:[ \t]*({_UUID})(?:[ \t]*p\.?[ \t]*([0-9]{{1,6}}))?[ \t]*\]"
)
_OPENING = "[file:"
_LONGEST = 80  # characters a citation may take before it is read as plain text


class CitedText:
    """Feed the model's text in pieces; each call gives back what may be shown now.

    Held back until it is decided: a possible citation not yet closed, and white space (it may
    precede a citation that will be removed, or end the answer). The answer never starts or ends
    with white space; ``paragraph()`` separates the text of two steps by a blank line.
    """

    def __init__(self, seen: Mapping[str, dict[str, Any]]) -> None:
        self._seen = seen
        self._pending = ""
        self._shown: list[str] = []
        self._cited: dict[str, dict[str, Any]] = {}

    @property
    def text(self) -> str:
        """The answer released so far."""
        return "".join(self._shown)

    @property
    def citations(self) -> list[dict[str, Any]]:
        """The files the answer cites (with the pages cited), in order of first citation."""
        return list(self._cited.values())

    def feed(self, piece: str) -> str:
        self._pending += piece
        return self._release(final=False)

    def paragraph(self) -> str:
        """End the text of a step (what it still held, as ``finish``): the next step's text
        starts a new paragraph."""
        released = self._release(final=True)
        if self._shown:
            self._pending = "\n\n"  # (shown only if text follows)
        return released

    def finish(self) -> str:
        """The rest, with anything left undecided read as plain text."""
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        out: list[str] = []
        text = self._pending
        while text:
            start = text.find("[")
            if start < 0:
                out.append(text)
                text = ""
                break
            lead = len(text[:start]) - len(text[:start].rstrip(" \t"))
            out.append(text[: start - lead])
            candidate = text[start - lead :]
            match = _CITATION.match(candidate)
            if match:
                out.append(self._resolve(match))
                text = candidate[match.end() :]
                continue
            opened = candidate[lead:]
            undecided = (
                _OPENING.startswith(opened[: len(_OPENING)])
                and "]" not in opened
                and len(opened) < _LONGEST
            )
            if undecided and not final:
                text = candidate
                break
            out.append(candidate[: lead + 1])  # plain text up to and including the "["
            text = candidate[lead + 1 :]
        released = "".join(out)
        if not final:  # white space at the end waits for what follows it
            kept = released.rstrip()
            text = released[len(kept) :] + text
            released = kept
        else:
            released = released.rstrip()
        if not self._shown:
            released = released.lstrip()
        self._pending = "" if final else text
        if released:
            self._shown.append(released)
        return released

    def _resolve(self, match: re.Match[str]) -> str:
        lead, ident, page = match.group(1), match.group(2).lower(), match.group(3)
        found = self._seen.get(ident)
        if found is None:
            return ""
        entry = self._cited.setdefault(ident, {k: v for k, v in found.items() if k != "pages"})
        if page is None or int(page) not in found.get("pages", ()):
            return f"{lead}[file:{ident}]"  # (a page no tool returned is not cited)
        pages = entry.setdefault("pages", [])
        if int(page) not in pages:
            pages.append(int(page))
        return f"{lead}[file:{ident} p.{int(page)}]"
