"""The offline ``local`` analyser: a description in plain sentences from what the local models
found (``vision``: ImageNet classes in everyday words, faces), OCR and EXIF; for documents, a
summary of their text.

It says only what it has grounds for, and less when it is unsure: a class the network is sure
of is named ("An espresso."), a split between kinds of one thing names the thing ("A cat,
probably a tiger cat."), and a picture nothing was recognised in is called a picture. Its
results carry ``analysis_level="local"``.
"""

from __future__ import annotations

import re
from collections import Counter

from ..vision import Sight
from .base import DescribeInput, Description
from .basic import document_like, quote

__all__ = ["LocalProvider", "article", "summarise", "title_of"]

SURE = 0.6  # a class this likely is named outright
LIKELY = 0.35  # "probably a ..." (and the least a plain word needs to be a tag)
POSSIBLE = 0.2  # "possibly a ..."
CLEAR = 1.5  # "probably" only when the next class is this many times less likely
GROUP = 0.5  # a plain word ("cat") whose classes together reach this is named
# plain words too broad to lead a description when a narrower one is as likely
BROAD = frozenset(
    {"animal", "pet", "mammal", "vehicle", "food", "drink", "nature", "outdoors", "landscape",
     "sports", "electronics", "clothing", "furniture", "building", "kitchen", "home", "structure",
     "tool", "plant", "primate", "reptile", "amphibian", "sea creature", "insect", "bug", "bird",
     "fish", "dish", "fast food", "water", "stationery", "toy", "car part"}
)  # fmt: skip
_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_STOP_WORDS = (
    "a about above after again all also an and any are as at be been before being below between "
    "both but by can could did do does doing down during each few for from further had has have "
    "having he her here hers him his how i if in into is it its itself just may me might more "
    "most must my no nor not now of off on once only or other our out over own same she should "
    "so some such than that the their them then there these they this those through to too "
    "under until up very was we were what when where which while who whom why will with would "
    "you your yours per page"
)
_STOP = frozenset(_STOP_WORDS.split())


def article(phrase: str) -> str:
    """``phrase`` with "a" or "an" before it (by its first sound, roughly)."""
    lowered = phrase.lower()
    number = re.match(r"\d+", lowered)
    if number:  # "an 8-page", "an 11-page", "a 1-page"
        digits = number.group()
        vowel = (
            digits.startswith("8")
            or digits in ("11", "18")
            or (len(digits) in (5, 6) and digits.startswith(("11", "18")))
        )
        return f"{'an' if vowel else 'a'} {phrase}"
    vowel = lowered[:1] in set("aeio") or (
        lowered[:1] == "u" and not lowered.startswith(("uni", "use", "usu", "ute"))
    )
    if lowered.startswith(("one", "eu", "hour", "honest")):
        vowel = lowered.startswith(("hour", "honest"))
    return f"{'an' if vowel else 'a'} {phrase}"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _count(n: int, noun: str, plural: str | None = None) -> str:
    word = _NUMBERS[n] if n < len(_NUMBERS) else str(n)
    return f"{word} {noun if n == 1 else plural or noun + 's'}"


def _subject(sight: Sight) -> tuple[str | None, list[str]]:
    """The opening phrase ("A cat, probably a tiger cat") and the words it used."""
    best = sight.labels[0] if sight.labels else None
    runner_up = sight.labels[1][1] if len(sight.labels) > 1 else 0.0
    named = {name for name, _p in sight.labels}
    groups = [(w, p) for w, p in sight.concepts if w not in named and p >= GROUP]
    narrow = [(w, p) for w, p in groups if w not in BROAD]
    candidates = narrow or groups
    group = candidates[0] if candidates else None
    if best is not None and best[1] >= SURE:
        return upper_first(article(best[0])), [best[0]]
    if group is not None:
        phrase = upper_first(article(group[0]))
        if best is not None and best[1] >= LIKELY and best[1] >= CLEAR * runner_up:
            return f"{phrase}, probably {article(best[0])}", [group[0], best[0]]
        if best is not None and best[1] >= POSSIBLE:
            rivals = [name for name, p in sight.labels[:2] if p >= POSSIBLE]
            options = " or ".join(article(name) for name in rivals)
            return f"{phrase}, possibly {options}", [group[0], *rivals]
        return phrase, [group[0]]
    if best is not None and best[1] >= LIKELY and best[1] >= CLEAR * runner_up:
        return f"Probably {article(best[0])}", [best[0]]
    if best is not None and best[1] >= POSSIBLE:
        return f"Possibly {article(best[0])}", [best[0]]
    return None, []


def _image(item: DescribeInput) -> Description:
    sight = item.sight
    facts = item.facts
    lines = [line.strip() for line in item.visible_text.splitlines() if line.strip()]
    textual = item.image is not None and document_like(item.image, lines, item.text_regions)
    subject, used = _subject(sight) if sight is not None else (None, [])
    faces = len(sight.faces) if sight is not None else 0
    sentences = []
    text_said = False
    sure = sight is not None and bool(sight.labels) and sight.labels[0][1] >= SURE
    if textual and not sure:
        sentences.append("A document or screenshot, mostly text.")
    elif subject is not None:
        sentences.append(subject + ".")
    elif lines and not faces:
        sentences.append(f'A picture with the text "{quote(" / ".join(lines), 200)}".')
        text_said = True
    elif faces:
        people = "a person" if faces == 1 else _count(faces, "person", "people")
        sentences.append(f"A picture of {people}.")
    elif sight is None:
        sentences.append("A picture.")
    else:
        sentences.append("A picture in which nothing was recognised with confidence.")
    if faces and (subject is not None or textual):
        verb = "is" if faces == 1 else "are"
        sentences.append(f"{upper_first(_count(faces, 'face'))} {verb} visible.")
    if lines and not text_said:
        shown = quote(" / ".join(lines), 200)
        verb = "begins" if textual else "reads"
        sentences.append(f'The text {verb} "{shown}".')
    if facts is not None and facts.frames > 1:
        sentences.append(f"It is animated ({facts.frames} frames); this describes the first.")
    if facts is not None and (facts.camera or facts.content_created_at):
        taken = "Taken"
        if facts.camera:
            taken += f" with {article(facts.camera)}"
        if facts.content_created_at:
            taken += f" on {facts.content_created_at:%Y-%m-%d}"
        sentences.append(taken + ".")
    tags = list(used)
    if sight is not None:
        tags += [word for word, p in sight.concepts if p >= LIKELY]
    if faces:
        tags += ["person" if faces == 1 else "people", "face"]
    if textual:
        tags.append("document")
    if lines:
        tags.append("text")
    if facts is not None and facts.frames > 1:
        tags.append("animated")
    if facts is not None and facts.camera:
        tags.append("camera photo")
    if item.content_category not in ("general", "auto"):
        tags.append(item.content_category)
    elements = []
    if sight is not None:
        elements += [f"{name} ({p:.0%})" for name, p in sight.labels if p >= POSSIBLE]
        elements += [
            f"face at {face.x:.2f},{face.y:.2f} ({face.width:.2f}x{face.height:.2f})"
            for face in sight.faces[:5]
        ]
    elements += [f"text: {quote(line, 80)}" for line in lines[:5]]
    if facts is not None and facts.camera:
        elements.append(f"camera: {facts.camera}")
    return Description(
        description=" ".join(sentences),
        tags=list(dict.fromkeys(tag.lower() for tag in tags)),
        key_elements=elements,
        analysis_level="local",
        provider="local",
    )


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")


_MARKUP = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|>\s*)")


def title_of(text: str) -> str | None:
    """The first line when it reads as a title: short, and not a sentence."""
    for line in text.splitlines():
        line = _MARKUP.sub("", line).strip()
        if not line:
            continue
        if len(line) <= 80 and not line.endswith((".", ",", ";", ":")) and len(line.split()) <= 10:
            return line
        return None
    return None


def _sentences(text: str) -> list[str]:
    """The text's sentences; a line that ends without punctuation (a heading, a label) is one
    of its own rather than the start of the next."""
    parts: list[str] = []
    paragraph: list[str] = []
    for raw in text.splitlines():
        line = _MARKUP.sub("", raw).strip()
        if not line:
            continue
        paragraph.append(line)
        short = len(line) < 60 and not line.endswith((",", ";", "-"))  # a heading, a label
        if short or line.endswith((".", "!", "?", ":")):
            parts += _SENTENCE.split(" ".join(paragraph))
            paragraph = []
    if paragraph:
        parts += _SENTENCE.split(" ".join(paragraph))
    return [part.strip() for part in parts if part.strip()]


def summarise(text: str, *, sentences: int = 3, limit: int = 480) -> tuple[str, list[str]]:
    """A summary of ``text`` (its most representative sentences, in their order) and its main
    topic words."""
    flat = " ".join(text.split())
    parts = [part for part in _sentences(text) if len(part) >= 20 and " " in part]
    words = [w.lower() for w in _WORD.findall(flat)]
    frequency = Counter(w for w in words if w not in _STOP)
    topics = [word for word, count in frequency.most_common(5) if count >= 2]
    if not parts:
        return quote(flat, limit), topics
    scored = []
    for position, part in enumerate(parts[:400]):
        content = [w.lower() for w in _WORD.findall(part) if w.lower() not in _STOP]
        if not content:
            continue
        weight = sum(frequency[w] for w in content) / len(content) ** 0.5
        scored.append((weight * (1.3 if position == 0 else 1.0), position, part))
    chosen = sorted(sorted(scored, reverse=True)[:sentences], key=lambda item: item[1])
    summary = " ".join(part for _w, _p, part in chosen)
    return quote(summary, limit), topics


def _document(item: DescribeInput) -> Description:
    fmt = (item.document_format or "text").upper()
    text = item.document_text or ""
    pages = item.page_count or 0
    size = f"{pages}-page " if pages else ""
    summary, topics = summarise(text) if text.strip() else ("", [])
    title = title_of(text)
    titled = f' titled "{quote(title, 80)}"' if title else ""
    about = f", mostly about {', '.join(topics[:3])}" if topics else ""
    sentences = [f"{upper_first(article(size + fmt))} document{titled}{about}."]
    sentences.append(f"Summary: {summary}" if summary else "No text could be read from it.")
    tags = ["document", fmt.lower(), *topics] + (["text"] if summary else [])
    if pages > 1:
        tags.append("multi-page")
    if item.content_category not in ("general", "auto"):
        tags.append(item.content_category)
    return Description(
        description=" ".join(sentences),
        tags=list(dict.fromkeys(tags)),
        key_elements=[f"topic: {word}" for word in topics],
        analysis_level="local",
        provider="local",
    )


class LocalProvider:
    name = "local"

    async def describe(self, item: DescribeInput) -> Description:
        if item.media_type == "document":
            return _document(item)
        return _image(item)

    async def aclose(self) -> None:
        return None
