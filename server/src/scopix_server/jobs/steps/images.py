"""Decoding an image: facts (size, format, EXIF date and camera), orientation, the pixel cap.

Contract: ``load_image(path, max_pixels=..., work_side=...)`` needs a local file and returns the
image upright (EXIF orientation applied), in RGB, no larger than ``work_side`` on its long side
(JPEGs decode straight at a reduced scale, "draft mode"; large PNGs in bands, each reduced
before the next is read: ``png_bands``), plus the facts of the full image.
It writes nothing. Content that cannot be decoded, or that is over the pixel cap (a
decompression bomb), is a ``validation`` failure: running it again cannot help. With a
``gate`` (in a work process), an image whose decode alone would cost more than the server's
whole decode budget is refused before decoding (``resource_limit``, naming the setting).
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, PngImagePlugin, UnidentifiedImageError
from pillow_heif import register_heif_opener

from ...processing import ImageFacts, StepError
from ..memory import DECODE_MEMORY_SETTING, Gate
from . import png_bands

__all__ = ["load_image"]

register_heif_opener()
# The pixel cap is ours (settings.max_image_pixels, checked from the header before decoding).
Image.MAX_IMAGE_PIXELS = None
MiB = 1024 * 1024

_EXIF_IFD = 0x8769
_DATE_TAGS = (0x9003, 0x9004, 0x0132)  # DateTimeOriginal, DateTimeDigitized, DateTime
_OFFSET_TAGS = {0x9003: 0x9011, 0x9004: 0x9012, 0x0132: 0x9010}
_ORIENTATION = 0x0112
_MAKE, _MODEL = 0x010F, 0x0110
_ROTATED = {5, 6, 7, 8}  # orientations that swap width and height


def _exif_date(exif: Image.Exif) -> datetime | None:
    tags = {**dict(exif), **exif.get_ifd(_EXIF_IFD)}
    for tag in _DATE_TAGS:
        raw = tags.get(tag)
        if not isinstance(raw, str):
            continue
        try:
            moment = datetime.strptime(raw.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        offset = tags.get(_OFFSET_TAGS[tag])
        if isinstance(offset, str):
            try:
                return datetime.strptime(
                    f"{raw.strip()[:19]}{offset.strip()}", "%Y:%m:%d %H:%M:%S%z"
                ).astimezone(timezone.utc)
            except (ValueError, OverflowError):  # (year 9999 at -01:00 is past year 9999 in UTC)
                pass
        return moment.replace(tzinfo=timezone.utc)  # no offset recorded: taken as UTC
    return None


def _camera(exif: Image.Exif) -> str | None:
    make = str(exif.get(_MAKE) or "").strip().strip("\x00")
    model = str(exif.get(_MODEL) or "").strip().strip("\x00")
    if model.lower().startswith(make.lower()):
        make = ""  # "Canon" + "Canon EOS 5D" reads better as the model alone
    return " ".join(part for part in (make, model) if part) or None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


_CUT_SHORT = (
    "truncated",
    "not enough image data",
    "buffer overrun",
    "decoder error",
    "broken data",
)


def _in_words(error: Exception, path: Path) -> str:
    """What is wrong with the file, for its owner: never an exception class or a server path."""
    reason = str(error).replace(repr(str(path)), "").replace(str(path), "").strip(" :")
    lowered = reason.lower()
    if isinstance(error, UnidentifiedImageError):
        return "its content is not an image the decoders recognise (a damaged or unknown header)"
    if any(words in lowered for words in _CUT_SHORT):
        return "the image data is cut short or damaged (is the file complete?)"
    if "too large" in lowered:
        return "a part of the image inflates far past its size (a decompression bomb?)"
    if lowered.startswith("unsupported") or "not supported" in lowered:
        return f"it uses a variant of its format the decoder does not support ({reason})"
    if isinstance(error, SyntaxError) or lowered.startswith(("not a", "invalid", "bad")):
        return f"its header or structure is malformed ({reason})" if reason else "it is malformed"
    return "it is damaged, or uses a feature of its format the decoder does not support"


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _reduced(image: Image.Image, work_side: int) -> Image.Image:
    """The decoded image shrunk by a whole factor towards ``work_side`` before anything else.

    Turning it upright and converting it to RGB each copy it: done on the full image they
    doubled or tripled the cost of a large one; on the reduced one they cost little.
    """
    factor = max(image.size) // work_side
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode reduce() does not handle (palette, bilevel): converted first
        return image.convert("RGBA" if "transparency" in image.info else "RGB").reduce(factor)


def _exif(opened: Image.Image) -> Image.Exif:
    if isinstance(opened, PngImagePlugin.PngImageFile) and opened.fp is not None:
        # Pillow's PNG reads an eXIf chunk after the pixels by decoding them all first
        if "exif" not in opened.info and (late := png_bands.late_exif(opened.fp)):
            opened.info["exif"] = late
        return Image.Image.getexif(opened)
    return opened.getexif()


def _cost(opened: Image.Image, work_side: int) -> int:
    """Bytes the decode of ``opened`` (after any ``draft()``) is expected to hold at its peak.

    The full-size pixels (Pillow keeps 1 byte a pixel for 1, L and P, else 4), and as much
    again for the decoder's own buffers and the reduced copy; a banded PNG holds a few bands.
    A decoder written in Python (BLP, QOI, XPM, RLE BMP...) builds the pixels in a buffer of
    its own and then copies them in: one full size more.
    """
    if max(opened.size) // work_side >= 2 and png_bands.supports(opened):
        return 4 * png_bands.BAND_BYTES
    width, height = opened.size
    tiles = getattr(opened, "tile", None) or ()
    copies = 3 if any(tile[0] in Image.DECODERS for tile in tiles) else 2
    return copies * width * height * (1 if opened.mode in ("1", "L", "P") else 4)


def _within(cost: int, gate: Gate, facts: ImageFacts) -> None:
    """Refuse an image whose decode alone would take more than the whole budget (it cannot be
    read reduced: formats other than JPEG and PNG are decoded at full size first)."""
    if cost > gate.budget:
        raise StepError(
            f"decoding this {facts.format.upper()} of {facts.width}x{facts.height} pixels would "
            f"take about {cost // MiB:,} MiB at once, over the {gate.budget // MiB:,} MiB that "
            f"image decodes may use; an administrator can raise {DECODE_MEMORY_SETTING}",
            "resource_limit",
            step="decode",
        )


def _decoded(opened: Image.Image, work_side: int) -> Image.Image:
    """``opened`` decoded at a reduced scale where its format allows, else whole then reduced.

    (A JPEG was set to decode at 1/2, 1/4 or 1/8 already: ``draft()``.) A large PNG is decoded
    in bands, each reduced before the next is read; others whole, then reduced at once.
    """
    factor = max(opened.size) // work_side
    if factor >= 2 and png_bands.supports(opened):
        return png_bands.decode_reduced(opened, factor, _to_rgb)
    opened.load()
    return _reduced(opened, work_side)


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation read from the file (a reduced copy no longer carries it)."""
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


# Enough for every use: the largest variant is 1024 px, and RapidOCR scales what it reads to
# at most 2000 px on the long side (its Global.max_side_len), so more would be thrown away.
WORK_SIDE = 2048


def load_image(
    path: Path, *, max_pixels: int, work_side: int = WORK_SIDE, gate: Gate | None = None
) -> tuple[Image.Image, ImageFacts]:
    """``gate``: decodes wait there until their estimated memory fits its budget."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings on odd files are not failures
            with Image.open(path) as opened:
                width, height = opened.size
                if width <= 0 or height <= 0:
                    raise StepError("the image has no pixels", "validation", step="decode")
                if width * height > max_pixels:
                    raise StepError(
                        f"the image is {width}x{height} = {width * height:,} pixels, over the "
                        f"limit of {max_pixels:,} (a decompression bomb?)",
                        "validation",
                        step="decode",
                    )
                exif = _exif(opened)
                orientation = int(exif.get(_ORIENTATION, 1) or 1)
                facts = ImageFacts(
                    width=height if orientation in _ROTATED else width,
                    height=width if orientation in _ROTATED else height,
                    format=(opened.format or "unknown").lower(),
                    frames=int(getattr(opened, "n_frames", 1) or 1),
                    content_created_at=_exif_date(exif),
                    camera=_camera(exif),
                )
                if opened.format == "JPEG":
                    opened.draft("RGB", (work_side, work_side))  # decode at 1/2, 1/4 or 1/8
                cost = _cost(opened, work_side)
                if gate is not None:
                    _within(cost, gate, facts)
                with gate.hold(cost) if gate else nullcontext():
                    image = _to_rgb(_upright(_decoded(opened, work_side), orientation))
    except StepError:
        raise
    except MemoryError:
        raise StepError(
            "not enough memory to decode the image", "resource_limit", step="decode"
        ) from None
    except Exception as error:
        raise StepError(
            f"the image could not be decoded: {_in_words(error, path)}", "validation", step="decode"
        ) from None
    if max(image.size) > work_side:
        image.thumbnail((work_side, work_side), Image.Resampling.LANCZOS)
    return image, facts
