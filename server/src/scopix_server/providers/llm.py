"""What the model providers share: the prompt, the image they send, the answer parser, and how
an HTTP failure becomes a classified ``StepError``.

Models answer in many shapes: bare JSON, JSON in a Markdown code fence, JSON followed by a
remark, JSON with trailing commas, tags as one comma-separated string. ``parse_answer`` takes
all of these; an answer without a usable description is a ``vlm_error`` (asking again may help).
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import httpx
from PIL import Image

from ..processing import StepError
from ..vision import Sight
from .base import DescribeInput, Description

__all__ = [
    "Answer",
    "build_prompt",
    "description_of",
    "encode_image",
    "local_findings",
    "model_client",
    "parse_answer",
    "post_json",
    "prepare",
    "status_error",
    "SYSTEM_PROMPT",
    "transport_error",
]

SYSTEM_PROMPT = (
    "You describe images and documents for a searchable media library. Describe only what is "
    "really there; never guess names, places or brands that are not visible or written. Answer "
    "with one JSON object and nothing else:\n"
    '{"description": "2 to 4 factual sentences", '
    '"tags": ["5 to 15 short lowercase search tags"], '
    '"key_elements": ["the notable objects, people, text or details, one per entry"]}'
)

# What to look at, per content_category (API.md; "general" and "auto" add nothing).
CATEGORY_HINTS = {
    "blueprint": "a blueprint: the kind of drawing, what is drawn, dimensions, labels, scale "
    "and title block",
    "ce_plan": "a civil-engineering plan: the works shown, stations, levels, legend and notes",
    "technical_diagram": "a technical diagram: the components, their connections and labels",
    "architectural_design": "an architectural design: spaces, materials, style and annotations",
    "product_photo": "a product photo: the product, its colour, material, condition and any "
    "brand or model text that is legible",
    "real_estate": "a real-estate photo: the room or exterior, features, finishes and condition",
    "mining": "a mining site or sample: equipment, terrain, rock and any markings",
    "robotics": "a robotics scene: the robots or parts, their setting and any readable labels",
    "artwork": "an artwork: medium, subject, composition, palette and style",
    "screenshot": "a screenshot: the application or page, its visible text and state",
    "document": "a document: its type, title, sections and key facts written in it",
    "map": "a map: the area, the kind of map, legend, scale and labelled places",
    "pid": "a piping and instrumentation diagram: equipment, lines, instruments and tags",
    "pfd": "a process flow diagram: the process units, streams and their labels",
    "construction": "a construction site: the stage of work, structures, equipment, safety gear",
    "facility_assessment": "a facility assessment photo: the asset, its condition, damage and wear",
}

TEXT_CONTEXT_CHARS = 4000  # of OCR or document text put into the prompt
MAX_TAGS = 20
MAX_ELEMENTS = 20
MAX_DESCRIPTION_CHARS = 4000
MAX_ANSWER_CHARS = 100_000  # longer answers are cut before they are searched for JSON


def build_prompt(item: DescribeInput) -> str:
    """The user message: what the file is, what was read from it, and what to focus on."""
    kind = "document" if item.media_type == "document" else "image"
    lines = [f"Describe this {kind}."]
    hint = CATEGORY_HINTS.get(item.content_category)
    if hint:
        lines.append(f"It is {hint}; cover those.")
    if item.media_type == "document":
        fmt = (item.document_format or "text").upper()
        pages = f", {item.page_count} pages" if item.page_count else ""
        lines.append(f"It is a {fmt} file{pages}; the image (if any) is its first page.")
        text = item.document_text or ""
        label = "Its text (beginning)"
    else:
        text = item.visible_text
        label = "Text read from it by OCR (may contain misreadings)"
    text = text.strip()
    if text:
        lines.append(f"{label}:\n<<<\n{text[:TEXT_CONTEXT_CHARS]}\n>>>")
    if item.sight is not None:
        lines.append(local_findings(item.sight))
    lines.append("Answer with the JSON object only.")
    return "\n".join(lines)


def local_findings(sight: Sight) -> str:
    """What the local models found, for the prompt: hints to check, never facts to repeat."""
    found = [f"{name} ({p:.0%})" for name, p in sight.labels[:5]]
    parts = ["Local image models (small, often wrong; check against the image) found:"]
    parts.append("- likely contents: " + (", ".join(found) if found else "nothing certain"))
    if sight.faces:
        boxes = "; ".join(
            f"x={f.x:.2f} y={f.y:.2f} w={f.width:.2f} h={f.height:.2f}" for f in sight.faces[:5]
        )
        parts.append(f"- {len(sight.faces)} face(s), at (0-1 of the image): {boxes}")
    else:
        parts.append("- no faces")
    return "\n".join(parts)


def encode_image(image: Image.Image, longest_side: int) -> str:
    """The image as base64 JPEG, scaled down to ``longest_side`` (blocking: call in a thread)."""
    copy = image.convert("RGB")
    copy.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


async def prepare(item: DescribeInput, image_side: int) -> tuple[str, str | None]:
    """The prompt and the base64 JPEG (None for a file without an image) of one request."""
    image = None
    if item.image is not None:
        image = await anyio.to_thread.run_sync(encode_image, item.image, image_side)
    return build_prompt(item), image


def model_client(
    timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One connection pool per provider; ``timeout`` bounds every read of the answer."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=transport,
        follow_redirects=False,
    )


# --- the answer ---


class Answer:
    """A parsed answer: a non-empty description, cleaned tags and key elements."""

    __slots__ = ("description", "key_elements", "tags")

    def __init__(self, description: str, tags: list[str], key_elements: list[str]) -> None:
        self.description = description
        self.tags = tags
        self.key_elements = key_elements


_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``text``: fenced ones first, then any that starts at a brace."""
    candidates = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for source in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            start = source.find("{")
            while start != -1:
                try:
                    value, _end = decoder.raw_decode(source, start)
                except ValueError:
                    pass
                else:
                    if isinstance(value, dict):
                        yield value
                start = source.find("{", start + 1)


def _field(obj: Mapping[str, Any], name: str) -> Any:
    for key, value in obj.items():
        if isinstance(key, str) and key.strip().lower() == name:
            return value
    return None


def _strings(value: Any, *, limit: int, size: int) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    found: list[str] = []
    for entry in value:
        if isinstance(entry, dict):  # {"name": "cat", "detail": "..."} → "cat: ..."
            entry = ": ".join(str(v) for v in entry.values() if isinstance(v, str | int | float))
        if isinstance(entry, str | int | float):
            text = " ".join(str(entry).split())[:size]
            if text and text not in found:
                found.append(text)
        if len(found) == limit:
            break
    return found


def description_of(text: str, *, provider: str) -> Description:
    """The ``Description`` a model's answer gives (``analysis_level`` ``"standard"``)."""
    parsed = parse_answer(text, provider=provider)
    return Description(
        description=parsed.description,
        tags=parsed.tags,
        key_elements=parsed.key_elements,
        analysis_level="standard",
        provider=provider,
    )


def parse_answer(text: str, *, provider: str) -> Answer:
    """Read the JSON a model wrote; raise ``vlm_error`` when there is no usable description."""
    text = text[:MAX_ANSWER_CHARS]
    for obj in _objects(text):
        description = _field(obj, "description")
        if isinstance(description, str) and description.strip():
            tags = [
                tag.lstrip("#").lower()
                for tag in _strings(_field(obj, "tags"), limit=MAX_TAGS, size=50)
            ]
            return Answer(
                description=description.strip()[:MAX_DESCRIPTION_CHARS],
                tags=list(dict.fromkeys(tag for tag in tags if tag)),
                key_elements=_strings(_field(obj, "key_elements"), limit=MAX_ELEMENTS, size=200),
            )
    excerpt = " ".join(text.split())[:120]
    raise StepError(
        "the model's answer held no JSON object with a description"
        + (f' (it began: "{excerpt}")' if excerpt else " (it was empty)"),
        "vlm_error",
        step=provider,
    )


# --- HTTP ---


def _error_message(response: httpx.Response) -> tuple[str, str]:
    """The provider's own error message and code, from the shapes OpenAI, Anthropic, Ollama,
    vLLM and llama.cpp use."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # (RecursionError: nested too deep to read)
        return " ".join(response.text.split())[:200], ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        return str(error.get("message") or "")[:300], str(code)
    if isinstance(error, str):
        return error[:300], ""
    return json.dumps(body)[:200], ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), 600.0)
    except ValueError:
        return None


def status_error(provider: str, response: httpx.Response) -> StepError:
    """Classify a refused request (API.md §5 error types)."""
    status = response.status_code
    message, code = _error_message(response)
    said = f"{provider} answered {status}" + (f": {message}" if message else "")
    if status == 429 and code != "insufficient_quota":
        return StepError(said, "rate_limit", step=provider, retry_after=_retry_after(response))
    if status in (402, 413, 429):  # out of credit, or the request is too large
        return StepError(said, "resource_limit", step=provider)
    if status == 408:
        return StepError(said, "timeout", step=provider)
    if status in (400, 422):
        return StepError(said, "validation", step=provider)
    if status in (401, 403):
        return StepError(f"{said} (check the provider's API key setting)", "unknown", step=provider)
    if status == 404:
        return StepError(
            f"{said} (check the provider's base URL and model settings)", "unknown", step=provider
        )
    if status >= 500:  # includes Anthropic's 529 "overloaded"
        return StepError(said, "vlm_error", step=provider, retry_after=_retry_after(response))
    return StepError(said, "unknown", step=provider)


def transport_error(
    provider: str,
    url: str,
    error: httpx.HTTPError,
    *,
    step: str,
    timeout: float | None = None,
) -> StepError:
    """A request to a model that got no whole answer, classified: ``timeout`` when it waited
    too long (``timeout``: the limit, when one applies to the whole wait), ``vlm_error`` when
    the server could not be reached or hung up midway."""
    name = type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        within = f" within {timeout:g} s" if timeout is not None else ""
        return StepError(f"{provider} did not answer{within} ({name})", "timeout", step=step)
    return StepError(
        f"{provider} could not be reached at {url} or broke off its answer: {name}: {error}",
        "vlm_error",
        step=step,
    )


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    provider: str,
) -> dict[str, Any]:
    """POST ``body``; the decoded JSON answer, or a classified ``StepError``."""
    try:
        response = await client.post(url, json=body, headers=dict(headers))
    except httpx.HTTPError as error:
        raise transport_error(
            provider, url, error, step=provider, timeout=client.timeout.read
        ) from error
    if response.status_code >= 400:
        raise status_error(provider, response)
    try:
        answer = response.json()
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        raise StepError(
            f"{provider} answered {response.status_code} with a body that is not a JSON object "
            f"({response.headers.get('content-type', 'no content type')})",
            "vlm_error",
            step=provider,
        )
    return answer
