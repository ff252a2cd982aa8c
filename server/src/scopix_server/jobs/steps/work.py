"""What the work processes run (``isolation``): the blocking steps, each one call.

Module-level functions with plain arguments, so that a call pickles by name; importing this
module loads the image steps only, not the web application. A large decode, and OCR, first
wait for their turn under the server's memory budget (``memory_gate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ...processing import ImageFacts, StepError
from ...vision import Sight
from ..isolation import memory_gate
from .document_types import DocumentLimits, DocumentText
from .images import load_image
from .ocr import OcrResult, read_text
from .variants import blur_hash, fitted, render_variants
from .vision import LOOK_SIDE, look

__all__ = ["ImageWork", "document", "image", "variants"]


@dataclass
class ImageWork:
    """What one call on an image file gives back: the working image stays in the child, and
    only the results cross (the image once, as large as the description providers take it)."""

    image: Image.Image | None  # for the description, at most ``describe_side`` long
    facts: ImageFacts
    variants: tuple[dict[str, bytes], str] | None = None  # as ``variants()`` gives them
    ocr: OcrResult | None = None
    ocr_error: StepError | None = None  # the variants stand even where OCR failed
    sight: Sight | None = None  # what the local vision models found
    vision_error: StepError | None = None  # (the rest stands without it)


def variants(image: Image.Image) -> tuple[dict[str, bytes], str]:
    """The encoded variants (by name) and the BlurHash placeholder of an upright RGB image."""
    return render_variants(image), blur_hash(image)


def image(
    path: Path,
    max_pixels: int,
    *,
    with_variants: bool,
    with_ocr: bool,
    describe_side: int | None,
    with_vision: bool = False,
    face_descriptors: bool = False,
) -> ImageWork:
    """Decode, then (as asked) render the variants, read the text and run the vision models,
    in one call; with a ``describe_side``, the image comes back too, for a description (else
    it stays here)."""
    loaded, facts = load_image(path, max_pixels=max_pixels, gate=memory_gate())
    result = ImageWork(None, facts)
    if with_variants:
        result.variants = variants(loaded)
    # what the models look at is made now, so that the full-size image can go before they run
    small = fitted(loaded, LOOK_SIDE, Image.Resampling.BILINEAR) if with_vision else None
    if with_ocr:
        try:
            result.ocr = read_text(loaded)
        except StepError as error:
            result.ocr_error = error
    if describe_side is not None:  # (after OCR, which reads the whole working image)
        result.image = fitted(loaded, describe_side, reducing_gap=None)
    del loaded
    if small is not None:
        try:
            result.sight = look(small, descriptors=face_descriptors)
        except StepError as error:
            result.vision_error = error
    return result


def document(path: Path, fmt: str, ocr: bool, limits: DocumentLimits) -> DocumentText:
    from .documents import extract_document  # (PDF and DOCX readers: loaded when needed)

    return extract_document(path, fmt, ocr=ocr, limits=limits)
