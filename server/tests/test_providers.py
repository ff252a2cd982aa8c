"""The ``openai`` and ``anthropic`` providers against local servers that speak each protocol.

Answer parsing is tested on the shapes models really write; the providers are tested over a
real socket (errors, timeouts, slow and malformed answers, what each request carries); and the
pipeline is tested end to end through ``scopix-server`` configured with these providers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from media_support import encode, text_image, text_pdf
from model_servers import ModelServer, Reply, good_answer
from scopix_server import Settings
from scopix_server.processing import StepError
from scopix_server.providers import AnthropicProvider, DescribeInput, OpenAIProvider
from scopix_server.providers.llm import build_prompt, parse_answer
from server_support import LiveServer, make_key, start_server, wait_until_terminal_sync

# --- parsing what models write ---

ANSWER = {"description": "A cat on a sofa.", "tags": ["Cat", "sofa"], "key_elements": ["cat"]}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ANSWER),
        "```json\n" + json.dumps(ANSWER, indent=2) + "\n```",
        "Here is the description:\n```\n" + json.dumps(ANSWER) + "\n```\nHope this helps!",
        json.dumps(ANSWER) + "\n\nNote: the lighting is dim.",
        'Sure! {"description": "A cat on a sofa.", "tags": ["cat", "sofa",], '
        '"key_elements": ["cat",],} Anything else?',
        '{"Description": "A cat on a sofa.", "TAGS": "cat, sofa", "key_elements": ["cat"]}',
        '{"note": {"x": 1}} {"description": "A cat on a sofa.", "tags": ["#cat", "sofa", "cat"],'
        ' "key_elements": [{"name": "cat"}]}',
    ],
    ids=[
        "bare",
        "fenced",
        "fenced-with-prose",
        "trailing-text",
        "trailing-commas",
        "odd-keys-and-tag-string",
        "first-object-unrelated",
    ],
)
def test_answers_are_read_in_the_shapes_models_write(text: str) -> None:
    answer = parse_answer(text, provider="openai")
    assert answer.description == "A cat on a sofa."
    assert answer.tags == ["cat", "sofa"]
    assert answer.key_elements == ["cat"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I see a cat on a sofa.",
        '{"description": "A cat on a sofa.", "tags": ["cat"',  # cut off
        '{"description": "", "tags": ["cat"]}',
        '{"caption": "A cat."}',
        "[1, 2, 3]",
    ],
)
def test_an_answer_without_a_description_is_a_retryable_model_error(text: str) -> None:
    with pytest.raises(StepError) as caught:
        parse_answer(text, provider="openai")
    assert caught.value.error_type == "vlm_error" and caught.value.retryable
    assert "no JSON object with a description" in caught.value.message


def test_tags_and_elements_are_bounded() -> None:
    text = json.dumps(
        {"description": "x" * 10_000, "tags": [f"t{i}" for i in range(50)], "key_elements": []}
    )
    answer = parse_answer(text, provider="openai")
    assert len(answer.description) == 4000 and len(answer.tags) == 20


def test_the_prompt_carries_the_ocr_text_and_the_category() -> None:
    image = Image.new("RGB", (40, 30), "white")
    item = DescribeInput(
        media_type="image",
        filename="plan.png",
        content_category="blueprint",
        image=image,
        visible_text="SECTION A-A\nSCALE 1:50",
    )
    prompt = build_prompt(item)
    assert "SECTION A-A\nSCALE 1:50" in prompt and "blueprint" in prompt
    general = build_prompt(DescribeInput(media_type="image", filename="x.png", image=image))
    assert "blueprint" not in general and "OCR" not in general  # nothing read, nothing said


# --- the providers over a socket ---


@pytest.fixture
def openai_server() -> Iterator[ModelServer]:
    server = ModelServer("openai", key="sk-test")
    yield server
    server.stop()


@pytest.fixture
def anthropic_server() -> Iterator[ModelServer]:
    server = ModelServer("anthropic", key="ak-test")
    yield server
    server.stop()


@pytest.fixture
async def openai(openai_server: ModelServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(
        base_url=openai_server.url,
        model="vision-test",
        api_key="sk-test",
        timeout=1.0,
        max_tokens=300,
        image_side=512,
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def anthropic(anthropic_server: ModelServer) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(
        base_url=anthropic_server.url,
        model="claude-test",
        api_key="ak-test",
        timeout=1.0,
        max_tokens=300,
        image_side=512,
    )
    yield provider
    await provider.aclose()


PHOTO = DescribeInput(
    media_type="image",
    filename="photo.jpg",
    content_category="product_photo",
    image=Image.new("RGB", (2000, 1000), "red"),
    visible_text="ACME 3000",
)


async def describe_error(provider: OpenAIProvider | AnthropicProvider) -> StepError:
    with pytest.raises(StepError) as caught:
        await provider.describe(PHOTO)
    assert caught.value.step == provider.name
    return caught.value


@pytest.mark.anyio
async def test_openai_request_and_answer(
    openai: OpenAIProvider, openai_server: ModelServer
) -> None:
    result = await openai.describe(PHOTO)
    assert result.description == "A red square on a white page."
    assert result.tags == ["red", "square"] and result.analysis_level == "standard"
    [seen] = openai_server.seen
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.body["model"] == "vision-test" and seen.body["max_tokens"] == 300
    system, user = seen.body["messages"]
    assert system["role"] == "system" and "JSON" in system["content"]
    assert "ACME 3000" in user["content"][0]["text"] and "product" in user["content"][0]["text"]
    assert seen.image_size == (512, 256)  # scaled down, aspect kept, sent as JPEG


@pytest.mark.anyio
async def test_anthropic_request_and_answer(
    anthropic: AnthropicProvider, anthropic_server: ModelServer
) -> None:
    anthropic_server.default = Reply(text="```json\n" + good_answer("A red banner.") + "\n```")
    result = await anthropic.describe(PHOTO)
    assert result.description == "A red banner." and result.provider == "anthropic"
    [seen] = anthropic_server.seen
    assert seen.headers["x-api-key"] == "ak-test" and seen.headers["anthropic-version"]
    assert seen.body["system"].startswith("You describe images")
    [message] = seen.body["messages"]
    assert [part["type"] for part in message["content"]] == ["image", "text"]
    assert seen.image_size == (512, 256)


@pytest.mark.anyio
async def test_a_text_document_is_sent_without_an_image(
    openai: OpenAIProvider, openai_server: ModelServer
) -> None:
    item = DescribeInput(
        media_type="document",
        filename="notes.md",
        document_format="md",
        page_count=1,
        document_text="# Minutes\nThe board met on Monday.",
    )
    await openai.describe(item)
    [seen] = openai_server.seen
    [part] = seen.body["messages"][1]["content"]
    assert part["type"] == "text" and "The board met on Monday." in part["text"]
    assert seen.image_size is None


OPENAI_FAILURES = [
    (Reply(status=429, error=("rate_limit_exceeded", "slow down"), headers={"retry-after": "7"}),
     "rate_limit", "slow down"),
    (Reply(status=429, error=("insufficient_quota", "You exceeded your current quota")),
     "resource_limit", "exceeded your current quota"),
    (Reply(status=500, error=("server_error", "boom")), "vlm_error", "answered 500: boom"),
    (Reply(status=503, body=b"<html>Bad gateway</html>"), "vlm_error", "Bad gateway"),
    (Reply(status=400, error=("invalid_request_error", "image too small")), "validation",
     "image too small"),
    (Reply(status=413, error=("too_large", "request too large")), "resource_limit", "too large"),
    (Reply(status=404, error=("model_not_found", "no such model")), "unknown", "model settings"),
    (Reply(body=b"not json at all"), "vlm_error", "not a JSON object"),
    (Reply(body=b'{"choices": []}'), "vlm_error", "without choices"),
    (Reply(text="I think it is a red thing."), "vlm_error", "it began: \"I think"),
    (Reply(text='{"description": "A red'), "vlm_error", "no JSON object"),
    (Reply(refusal=True), "validation", "declined"),
    (Reply(delay=1.5, text=good_answer()), "timeout", "did not answer within 1 s"),
]  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "error_type", "words"), OPENAI_FAILURES)
async def test_openai_failures_are_classified(
    openai: OpenAIProvider, openai_server: ModelServer, reply: Reply, error_type: str, words: str
) -> None:
    openai_server.script = [reply]
    error = await describe_error(openai)
    assert error.error_type == error_type, error.message
    assert words in error.message
    if reply.headers.get("retry-after"):
        assert error.retry_after == 7.0


ANTHROPIC_FAILURES = [
    (Reply(status=429, error=("rate_limit_error", "too many")), "rate_limit"),
    (Reply(status=529, error=("overloaded_error", "Overloaded")), "vlm_error"),
    (Reply(status=500, error=("api_error", "internal")), "vlm_error"),
    (Reply(status=413, error=("request_too_large", "too big")), "resource_limit"),
    (Reply(status=400, error=("invalid_request_error", "bad image")), "validation"),
    (Reply(refusal=True, text=""), "validation"),
    (Reply(text="no json here"), "vlm_error"),
    (Reply(delay=1.5, text=good_answer()), "timeout"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "error_type"), ANTHROPIC_FAILURES)
async def test_anthropic_failures_are_classified(
    anthropic: AnthropicProvider, anthropic_server: ModelServer, reply: Reply, error_type: str
) -> None:
    anthropic_server.script = [reply]
    assert (await describe_error(anthropic)).error_type == error_type


@pytest.mark.anyio
async def test_a_wrong_key_is_refused_and_named(anthropic_server: ModelServer) -> None:
    provider = AnthropicProvider(
        base_url=anthropic_server.url,
        model="m",
        api_key="wrong",
        timeout=1.0,
        max_tokens=100,
        image_side=256,
    )
    try:
        error = await describe_error(provider)
    finally:
        await provider.aclose()
    assert error.error_type == "unknown" and "API key" in error.message


@pytest.mark.anyio
async def test_a_slow_answer_within_the_timeout_is_accepted(
    openai: OpenAIProvider, openai_server: ModelServer
) -> None:
    openai_server.script = [Reply(delay=0.6, text=good_answer("Slow but fine."))]
    assert (await openai.describe(PHOTO)).description == "Slow but fine."


@pytest.mark.anyio
async def test_an_unreachable_provider_is_a_retryable_error() -> None:
    provider = OpenAIProvider(
        base_url="http://127.0.0.1:9/v1",  # discard port: nothing listens
        model="m",
        api_key=None,
        timeout=1.0,
        max_tokens=100,
        image_side=256,
    )
    try:
        error = await describe_error(provider)
    finally:
        await provider.aclose()
    assert error.error_type == "vlm_error" and "could not be reached" in error.message


# --- settings ---


def test_settings_name_what_a_provider_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SCOPIX_SERVER_ANTHROPIC_API_KEY"):
        Settings(data_dir=tmp_path, description_providers="basic,anthropic")
    with pytest.raises(ValueError, match="SCOPIX_SERVER_OPENAI_API_KEY"):
        Settings(data_dir=tmp_path, description_providers="openai")
    local = Settings(
        data_dir=tmp_path,
        description_providers="openai",
        openai_base_url="http://localhost:11434/v1",
    )
    assert local.description_providers == "openai"
    keyed = Settings(
        data_dir=tmp_path, description_providers="anthropic", anthropic_api_key="ak-secret-42"
    )
    assert "ak-secret-42" not in repr(keyed)  # keys stay out of logs


# --- the pipeline with model providers, end to end ---


def serve(tmp: Path, model: ModelServer, providers: str) -> LiveServer:
    return start_server(
        Settings(
            data_dir=tmp,
            workers=1,
            description_providers=providers,
            openai_base_url=model.url if model.protocol == "openai" else "http://unused/v1",
            openai_api_key=model.key if model.protocol == "openai" else None,
            anthropic_api_key=model.key if model.protocol == "anthropic" else "unused",
            anthropic_base_url=model.url if model.protocol == "anthropic" else "http://unused",
            provider_timeout_seconds=2.0,
            job_retry_delay_seconds=0.05,
            job_max_attempts=3,
            job_poll_seconds=0.05,
        )
    )


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    server = ModelServer("openai", key="sk-e2e")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, model: ModelServer) -> Iterator[LiveServer]:
    live = serve(tmp_path_factory.mktemp("mixed"), model, "basic,openai")
    yield live
    live.stop()


@pytest.fixture
def api(mixed: LiveServer, model: ModelServer) -> Iterator[httpx.Client]:
    model.script, model.seen = [], []
    model.default = Reply(text=good_answer("A sign that reads OPEN."))
    key = make_key(mixed.settings)
    with httpx.Client(base_url=mixed.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def described(api: httpx.Client, data: bytes, name: str) -> dict:  # type: ignore[type-arg]
    response = api.post("/files/upload", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    file_id = response.json()["image_id"]
    wait_until_terminal_sync(api, file_id, timeout=60)
    details: dict = api.get(f"/files/{file_id}").json()  # type: ignore[type-arg]
    return details


SIGN = encode(text_image([("OPEN", 200, 200)], size=(800, 500))[0], "PNG")


@pytest.mark.socket
def test_the_model_leads_and_the_basic_analysis_adds_its_tags(
    api: httpx.Client, model: ModelServer
) -> None:
    details = described(api, SIGN, "sign.png")
    assert details["description_status"] == "completed"
    assert details["description"] == "A sign that reads OPEN."
    assert details["analysis_level"] == "standard" and details["provider_count"] == 2
    assert {"red", "square"} <= set(details["tags"]) and "landscape" in set(details["tags"])
    [seen] = model.seen
    assert "OPEN" in seen.body["messages"][1]["content"][0]["text"]  # OCR ran before


@pytest.mark.socket
def test_a_failing_model_is_retried_then_answers(api: httpx.Client, model: ModelServer) -> None:
    model.script = [Reply(status=500, error=("server_error", "boom"))]
    details = described(api, SIGN, "sign.png")
    assert details["description"] == "A sign that reads OPEN."
    assert details["provider_count"] == 2 and len(model.seen) == 2


@pytest.mark.socket
def test_when_the_model_never_answers_the_basic_description_stands(
    api: httpx.Client, model: ModelServer
) -> None:
    model.default = Reply(status=429, error=("rate_limit_exceeded", "slow down"))
    details = described(api, SIGN, "sign.png")
    assert len(model.seen) == 3  # every attempt asked the model
    assert details["description_status"] == "completed"
    assert details["analysis_level"] == "basic" and details["provider_count"] == 1
    assert "OPEN" in details["description"]


@pytest.mark.socket
def test_a_model_only_server_fails_with_the_models_error(
    tmp_path: Path, model: ModelServer
) -> None:
    model.script, model.seen = [], []
    model.default = Reply(status=503, error=("server_error", "overloaded"))
    live = serve(tmp_path, model, "openai")
    try:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            details = described(client, SIGN, "sign.png")
            pdf = described(client, text_pdf([["Quarterly report"]]), "report.pdf")
    finally:
        live.stop()
    assert details["status"] == "completed" and details["variant_status"] == "completed"
    assert details["description_status"] == "failed"
    assert details["description_error_type"] == "vlm_error"
    assert details["description_is_retryable"] is True
    assert "openai answered 503: overloaded" in details["description_error"]
    assert pdf["text_extraction_status"] == "completed"  # the text does not depend on it
    assert pdf["description_status"] == "failed"


@pytest.mark.socket
def test_anthropic_describes_through_the_server(tmp_path: Path) -> None:
    model = ModelServer("anthropic", key="ak-e2e")
    model.default = Reply(text=good_answer("An OPEN sign.", tags=["sign", "open"]))
    live = serve(tmp_path, model, "anthropic")
    try:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            details = described(client, SIGN, "sign.png")
    finally:
        live.stop()
        model.stop()
    assert details["description"] == "An OPEN sign." and details["tags"] == ["sign", "open"]
    assert details["analysis_level"] == "standard" and details["provider_count"] == 1
