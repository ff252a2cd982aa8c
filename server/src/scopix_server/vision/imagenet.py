"""The classifier's 1,000 ImageNet classes as words people use: a name for each class, and the
plainer words it belongs under ("tabby cat" is a cat, an animal and a pet)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

__all__ = ["ImagenetClass", "imagenet_classes"]


@dataclass(frozen=True)
class ImagenetClass:
    name: str
    words: tuple[str, ...]


@cache
def imagenet_classes() -> tuple[ImagenetClass, ...]:
    text = files(__package__).joinpath("imagenet.tsv").read_text(encoding="utf-8")
    classes: list[ImagenetClass] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        index, name, words = line.split("\t")
        if int(index) != len(classes):
            raise ValueError(f"imagenet.tsv: class {index} is out of order")
        classes.append(ImagenetClass(name, tuple(word for word in words.split(",") if word)))
    if len(classes) != 1000:
        raise ValueError(f"imagenet.tsv holds {len(classes)} classes, not 1000")
    return tuple(classes)
