"""The text of a DOCX, read as a stream: paragraphs and table rows of ``word/document.xml``.

The XML is parsed incrementally (each paragraph or table is dropped once its text is taken), and
every part is read through ``containers``, so neither an inflation bomb nor a huge document
costs more memory than the bound on one part.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree

from ...containers import TooLarge, open_part, read_part
from .document_types import DocumentLimits, DocumentText, draw_page, validation

__all__ = ["read_docx"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BODY, _P, _TBL, _TR, _TC, _T = (f"{_W}{tag}" for tag in ("body", "p", "tbl", "tr", "tc", "t"))


def _text_of(element: Any) -> str:
    return "".join(node.text or "" for node in element.iter(_T))


def _lines(stream: Any) -> list[str]:
    lines: list[str] = []
    parser = etree.iterparse(
        stream,
        events=("end",),
        tag=(_P, _TBL),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    for _event, element in parser:
        parent = element.getparent()
        if parent is None or parent.tag != _BODY:
            continue  # a paragraph inside a table: read with its table
        if element.tag == _P:
            lines.append(_text_of(element))
        else:
            for row in element.iter(_TR):
                cells = [_text_of(cell) for cell in row.iter(_TC)]
                lines.append(" | ".join(cell for cell in cells if cell))
        element.clear()  # its text is taken: free it, and the siblings before it
        while element.getprevious() is not None:
            del parent[0]
    return lines


def _page_count(archive: zipfile.ZipFile, limit: int) -> int | None:
    try:
        app = read_part(archive, "docProps/app.xml", limit)
    except KeyError:
        return None
    found = re.search(rb"<(?:\w+:)?Pages>(\d{1,9})</(?:\w+:)?Pages>", app)
    return int(found.group(1)) if found else None


def read_docx(path: Path, limits: DocumentLimits) -> DocumentText:
    try:
        with zipfile.ZipFile(path) as archive:
            with open_part(archive, "word/document.xml", limits.max_part_bytes) as stream:
                lines = _lines(stream)
            pages = _page_count(archive, limits.max_part_bytes)
    except TooLarge as error:
        raise validation(f"the DOCX is refused: {error}") from None
    except KeyError:
        raise validation("the DOCX has no word/document.xml: it is not a Word document") from None
    except etree.XMLSyntaxError as error:
        raise validation(f"the DOCX's text is not well-formed XML ({error.msg})") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise validation("the DOCX is damaged (its ZIP container cannot be read)") from None
    text = "\n".join(lines).strip()
    return DocumentText(
        format="docx", pages=[text], page_count=pages or 1, first_page=draw_page(text)
    )
