"""Still-image formats beyond the common ones: whatever the installed decoders read.

The variants are WebP and JPEG whatever came in, so any still image Pillow (or pillow-heif) can
decode is accepted. A format Pillow recognises but cannot decode here is refused by name, with
what it would need ("EPS needs Ghostscript, which is not installed"). ``SUPPORTED_FORMATS`` is
the list a refusal's ``details`` carry.
"""

from __future__ import annotations

import io
import shutil
import warnings

from PIL import Image

from .media import Detected, Refused

__all__ = ["SUPPORTED_FORMATS", "decodable_image"]

Image.init()  # every plugin Pillow has, not only the few it loads on first use

# Recognised from a header, but not decodable here (or not a still image).
_NEEDS = {
    "WMF": "WMF and EMF drawings need a Windows metafile renderer, which is not installed",
    "BUFR": "BUFR is meteorological data, not an image (Pillow reads only its header)",
    "GRIB": "GRIB is meteorological data, not an image (Pillow reads only its header)",
    "HDF5": "HDF5 is scientific data, not an image (Pillow reads only its header)",
    "MPEG": "MPEG-1/2 video is not supported; WebM, MP4, MOV, M4V and AVI are",
    "IPTC": "a bare IPTC record is metadata, not an image",
}
_COMMON = ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIC", "HEIF", "AVIF"]


def _eps_readable() -> bool:
    return shutil.which("gs") is not None


def _still_formats() -> list[str]:
    formats = set(Image.OPEN) - set(_NEEDS)
    if not _eps_readable():
        formats.discard("EPS")
    return sorted(formats)


_OTHERS = ["PDF", "DOCX", "TXT", "MD", "MP4", "MOV", "M4V", "WEBM", "AVI"]
SUPPORTED_FORMATS: list[str] = list(dict.fromkeys([*_COMMON, *_still_formats(), *_OTHERS]))


def decodable_image(head: bytes) -> Detected | None:
    """The image format Pillow recognises in ``head``, or None; ``Refused`` if not decodable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as image:
                name = str(image.format or "")
    except Exception:  # not an image Pillow recognises: the caller goes on
        return None
    if name in _NEEDS:
        raise Refused(_NEEDS[name])
    if name == "EPS" and not _eps_readable():
        raise Refused("EPS needs Ghostscript, which is not installed; convert it to PDF or PNG")
    content_type = Image.MIME.get(name) or f"image/x-{name.lower()}"
    return Detected("image", content_type, name.lower())
