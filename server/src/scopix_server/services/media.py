"""What a file is, from its first bytes (magic numbers), never from its name or Content-Type.

``sniff(head, filename)`` returns the media type and content type of an accepted file, or raises
``Refused`` with a reason for unknown or unsafe content (executables, scripts, archives, HTML).
A ZIP container needs the whole file to tell a DOCX from any other archive: ``confirm_docx``.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from ..containers import TooLarge, part_size

__all__ = [
    "DOCX_PARTS",
    "HEAD_BYTES",
    "ContainerTooLarge",
    "Detected",
    "Refused",
    "confirm_docx",
    "sniff",
]

HEAD_BYTES = 8192  # how much of a file the detection looks at

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Detected:
    media_type: str  # image | document | video
    content_type: str
    format: str  # short name: jpeg, png, pdf, docx, mp4 ...
    needs_zip_check: bool = False


class Refused(Exception):
    """The content is not accepted; the message says what it looks like."""


class ContainerTooLarge(Refused):
    """A part of a container inflates past the bound: a ``validation`` refusal, not a format one."""


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"mmp4",
    b"MSNV", b"f4v ", b"3gp4", b"3gp5", b"3g2a",
}  # fmt: skip
_QUICKTIME_BRANDS = {b"qt  "}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}


def _ftyp(head: bytes) -> Detected | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return Detected("image", "image/heic" if brand != b"mif1" else "image/heif", "heic")
    if brand in _QUICKTIME_BRANDS:
        return Detected("video", "video/quicktime", "mov")
    if brand in _M4V_BRANDS:
        return Detected("video", "video/x-m4v", "m4v")
    if brand in _MP4_BRANDS:
        return Detected("video", "video/mp4", "mp4")
    if brand in (b"avif", b"avis"):
        return Detected("image", "image/avif", "avif")
    raise Refused(f"unsupported ISO media file (brand {brand.decode('latin-1')!r})")


_UNSAFE = [
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O universal binary"),
    (b"#!", "a script"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x00asm", "a WebAssembly module"),
]
# What a browser takes for HTML when a document starts with it (the WHATWG MIME sniffing
# patterns, each followed by a space or ">"), and other markup that is not text to us.
_HTML_TAGS = (
    "!doctype html", "html", "head", "script", "iframe", "h1", "div", "font", "table", "a",
    "style", "title", "b", "body", "br", "p",
)  # fmt: skip
_MARKUP_START = re.compile(
    r"<(?:(?:" + "|".join(re.escape(tag) for tag in _HTML_TAGS) + r")[\s>/]|!--|\?php|\?xml|svg\b"
    r"|xsl:|math\b|object\b|embed\b)"
)
# Active content is refused wherever it stands in the head, not only at the start.
_ACTIVE = re.compile(r"<(?:script|iframe|object|embed)\b|<\?php|<svg\b[^>]*\bon\w+\s*=")
_SKIPPED = re.compile(r"(?:\s|<!--.*?-->)*", re.DOTALL)  # whitespace and comments before it


_UNKNOWN = (
    "unrecognised binary content: not an image, document or video format this server reads "
    "(details.supported_formats lists them)"
)


def sniff(head: bytes, filename: str = "") -> Detected:
    """Classify a file from its first bytes (at least ``HEAD_BYTES`` when the file is longer)."""
    if not head:
        raise Refused("the file is empty")
    if head.startswith(b"\xff\xd8\xff"):
        return Detected("image", "image/jpeg", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detected("image", "image/png", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Detected("image", "image/gif", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected("image", "image/webp", "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Detected("video", "video/x-msvideo", "avi")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Detected("image", "image/tiff", "tiff")
    if head[:2] == b"BM" and len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return Detected("image", "image/bmp", "bmp")
    if head.startswith(b"%PDF-"):
        return Detected("document", "application/pdf", "pdf")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head[:64]:
            return Detected("video", "video/webm", "webm")
        raise Refused("Matroska video is not supported; WebM, MP4, MOV, M4V and AVI are")
    detected = _ftyp(head)
    if detected is not None:
        return detected
    if head.startswith(b"PK\x03\x04"):
        return Detected("document", DOCX, "docx", needs_zip_check=True)
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        raise Refused("a ZIP archive; archives are not accepted")
    for magic, what in _UNSAFE:
        if head.startswith(magic):
            raise Refused(f"the content is {what}, which is not accepted")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise Refused("a tar archive; archives are not accepted")
    from .image_formats import decodable_image  # (it builds on this module's types)

    return decodable_image(head) or _text(head, filename)


def _text(head: bytes, filename: str) -> Detected:
    sample = head.lstrip(b"\xef\xbb\xbf")  # UTF-8 byte order mark
    if b"\x00" in sample:
        raise Refused(_UNKNOWN)
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # a multi-byte character cut off at the end of the sample is still text
        if error.start < len(sample) - 4:
            raise Refused("unrecognised content (neither a known format nor UTF-8 text)") from None
        text = sample[: error.start].decode("utf-8")
    lowered = text.lower()
    opening = lowered[_SKIPPED.match(lowered).end() :]  # type: ignore[union-attr]
    if _MARKUP_START.match(opening) or _ACTIVE.search(lowered):
        raise Refused("HTML, SVG, XML or script markup is not accepted")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > max(1, len(text) // 100):
        raise Refused(_UNKNOWN)
    if filename.lower().endswith((".md", ".markdown")):
        return Detected("document", "text/markdown", "md")
    return Detected("document", "text/plain", "txt")


DOCX_PARTS = ("[Content_Types].xml", "word/document.xml", "docProps/app.xml")  # what is read


def confirm_docx(handle: BinaryIO, *, max_part_bytes: int) -> None:
    """Raise ``Refused`` unless the ZIP container is a Word document whose parts are in bounds.

    The parts that processing reads must not inflate past ``max_part_bytes``
    (``ContainerTooLarge``): the check reads the sizes the archive declares, which are also
    what ``zipfile`` ever inflates.
    """
    try:
        with zipfile.ZipFile(handle) as archive:
            names = set(archive.namelist())
            if "word/document.xml" not in names or "[Content_Types].xml" not in names:
                raise Refused(
                    "a ZIP archive that is not a Word document; archives are not accepted"
                )
            for name in DOCX_PARTS:
                if name in names:
                    part_size(archive, name, max_part_bytes)
    except TooLarge as error:
        raise ContainerTooLarge(f"the DOCX is refused: {error}") from None
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("a damaged ZIP container") from None
