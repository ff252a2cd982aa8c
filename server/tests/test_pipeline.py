"""The processing pipeline end to end: real server on a socket, real OCR, real decoders."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from media_support import (
    docx_bytes,
    encode,
    encrypted_pdf,
    scanned_pdf,
    text_image,
    text_pdf,
    with_orientation,
)
from scopix_server import Settings
from server_support import LiveServer, make_key, start_server, wait_until_terminal_sync

pytestmark = pytest.mark.socket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("pipeline")),
        workers=2,
        max_image_pixels=30_000_000,
    )
    live = start_server(settings)
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(server.settings)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


def upload(api: httpx.Client, data: bytes, name: str, **fields: str) -> str:
    response = api.post("/files/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    assert response.json()["description_status"] in ("queued", "skipped")
    return str(response.json()["image_id"])


def processed(api: httpx.Client, data: bytes, name: str, **fields: str) -> dict:  # type: ignore[type-arg]
    file_id = upload(api, data, name, **fields)
    wait_until_terminal_sync(api, file_id)
    details: dict = api.get(f"/files/{file_id}").json()  # type: ignore[type-arg]
    return details


def inside(point: tuple[float, float], box: dict[str, float], slack: float = 0.02) -> bool:
    x, y = point
    return (
        box["x"] - slack <= x <= box["x"] + box["width"] + slack
        and box["y"] - slack <= y <= box["y"] + box["height"] + slack
    )


def centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def test_ocr_reads_the_words_where_they_were_drawn(api: httpx.Client) -> None:
    image, placed = text_image(
        [("INVOICE 2026", 120, 100), ("TOTAL 42.00", 900, 760), ("Thank you", 120, 420)]
    )
    details = processed(api, encode(image), "invoice.jpg")
    assert details["status"] == "completed" and details["description_status"] == "completed"
    # reading order: top to bottom
    assert details["visible_text"].split("\n") == ["INVOICE 2026", "Thank you", "TOTAL 42.00"]
    regions = {r["text"]: r for r in details["text_regions"]}
    for item in placed:
        region = regions[item.text]
        assert inside(centre(item.box), region["bbox"])
        assert 0.5 <= region["confidence"] <= 1 and region["page"] is None
        assert len(region["polygon"]) == 4
        assert all(0 <= v <= 1 for point in region["polygon"] for v in point)
    # the default (local) description quotes the text, in sentences, with no pixel counts
    assert details["analysis_level"] == "local" and details["provider_count"] == 1
    assert "INVOICE 2026" in details["description"] and "1600x1000" not in details["description"]
    assert "text" in details["tags"] and details["faces"] == []
    assert details["safety_score"] is not None and details["safety_score"] < 0.2
    assert details["confidence_score"] is None
    assert details["dimensions"] == {"width": 1600, "height": 1000}


@pytest.mark.parametrize("orientation", [6, 8])
def test_boxes_are_in_the_upright_frame(api: httpx.Client, orientation: int) -> None:
    upright, placed = text_image([("ROTATED TEXT", 80, 150)], size=(900, 1300), font_size=70)
    details = processed(api, with_orientation(upright, orientation), "rotated.jpg")
    assert details["dimensions"] == {"width": 900, "height": 1300}  # as shown, not as stored
    region = next(r for r in details["text_regions"] if "ROTATED" in r["text"])
    assert inside(centre(placed[0].box), region["bbox"])
    assert region["bbox"]["width"] > region["bbox"]["height"]  # horizontal, as drawn


def test_variants_and_placeholder(api: httpx.Client) -> None:
    image, _ = text_image([("VARIANTS", 100, 100)], size=(2000, 1200))
    details = processed(api, encode(image), "big.jpg")
    assert details["variant_status"] == "completed" and details["blur_hash"]
    assert len(details["blur_hash"]) == 6 + 2 * (4 * 3 - 1)
    for variant, side in [("tiny_64", 64), ("small_256", 256), ("medium_750", 750)]:
        redirect = api.get(f"/files/{details['id']}/variants/{variant}")
        assert redirect.status_code == 302
        rendition = httpx.get(redirect.headers["location"])
        assert rendition.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(rendition.content)) as shown:
            assert max(shown.size) == side and shown.format == "WEBP"
    assert details["thumbnail_url"] and details["medium_url"] and details["full_url"]
    listed = api.get("/files", params={"ids": details["id"]}).json()["items"][0]
    assert listed["thumbnail_url"]


def test_broken_images_fail_as_validation_and_the_worker_goes_on(api: httpx.Client) -> None:
    good, _ = text_image([("STILL FINE", 100, 100)])
    jpeg = encode(good)
    truncated = processed(api, jpeg[: len(jpeg) // 3], "cut.jpg")
    assert truncated["status"] == "failed" and truncated["variant_status"] == "failed"
    assert truncated["description_status"] == "failed"
    assert truncated["description_error_type"] == "validation"
    assert truncated["description_is_retryable"] is False
    assert "could not be decoded" in truncated["description_error"]
    noise = processed(api, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "noise.png")
    assert "not an image the decoders recognise" in noise["description_error"]
    assert "cut short or damaged" in truncated["description_error"]
    for said in (noise["description_error"], truncated["description_error"]):
        assert "Error" not in said and "decoder error" not in said  # words, no class names
    assert "/" not in noise["description_error"]  # (Pillow names the file: not the server's path)
    assert api.get(f"/files/{truncated['id']}/variants/small_256").status_code == 404
    bomb = processed(api, encode(Image.new("L", (8000, 4000)), "PNG"), "bomb.png")
    assert bomb["description_error_type"] == "validation"
    assert "over the limit" in bomb["description_error"]
    after = processed(api, jpeg, "fine.jpg")
    assert after["status"] == "completed" and "STILL FINE" in after["visible_text"]


def test_pdf_text_pages_chunks_and_routes(api: httpx.Client) -> None:
    words = " ".join(f"word{i}" for i in range(400))
    details = processed(
        api, text_pdf([["Quarterly report", words[:90]], ["Second page", words[90:180]]]), "r.pdf"
    )
    assert details["media_type"] == "document" and details["status"] == "completed"
    assert details["text_extraction_status"] == "completed" and details["page_count"] == 2
    text = api.get(f"/files/{details['id']}/text")
    assert text.status_code == 200 and "Quarterly report" in text.text
    assert "Second page" in text.text
    chunks = api.get(f"/files/{details['id']}/chunks").json()
    assert chunks["total_count"] == details["chunk_count"] >= 1
    assert chunks["items"][0]["page_numbers"][0] == 1
    assert details["description"].startswith("A 2-page PDF document")
    assert details["variant_status"] == "completed"  # the first page as a thumbnail


def test_scanned_pdf_pages_are_read_by_ocr(api: httpx.Client) -> None:
    details = processed(api, scanned_pdf([("SCANNED INVOICE", 120, 200)]), "scan.pdf")
    assert details["text_extraction_status"] == "completed"
    assert "SCANNED INVOICE" in api.get(f"/files/{details['id']}/text").text
    assert details["text_regions"] and details["text_regions"][0]["page"] == 1


def test_docx_and_plain_text(api: httpx.Client) -> None:
    docx = processed(api, docx_bytes(["Meeting notes", "Budget approved"]), "notes.docx")
    assert docx["text_extraction_status"] == "completed"
    assert "Budget approved" in api.get(f"/files/{docx['id']}/text").text
    txt = processed(api, b"plain words here\nand a second line\n", "notes.txt")
    assert txt["text_extraction_status"] == "completed" and txt["chunk_count"] == 1


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (encrypted_pdf(), "locked.pdf", "password-protected"),
        (docx_bytes([]), "empty.docx", "no text could be extracted"),
    ],
)
def test_unreadable_documents_fail_as_validation(
    api: httpx.Client, data: bytes, name: str, message: str
) -> None:
    details = processed(api, data, name)
    assert details["status"] == "failed" and details["text_extraction_status"] == "failed"
    assert details["description_error_type"] == "validation"
    assert details["description_is_retryable"] is False
    assert message in details["description_error"]
    assert api.get(f"/files/{details['id']}/text").status_code == 404


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_describing_a_document_again_reuses_its_stored_text(
    server: LiveServer, api: httpx.Client
) -> None:
    details = processed(api, text_pdf([["Annual figures", "north and south"]]), "annual.pdf")
    original = server.settings.data_dir / "storage" / "objects" / details["object_key"]
    original.unlink()  # extracting again would fail now: only the stored text can serve
    assert api.post(f"/files/{details['id']}/describe").status_code == 202
    status = wait_until_terminal_sync(api, details["id"])
    assert status["description_status"] == "completed" and status["status"] == "completed"
    again = api.get(f"/files/{details['id']}").json()
    assert "Annual figures" in again["description"]
    assert again["chunk_count"] == details["chunk_count"]


def test_text_routes_refuse_images(api: httpx.Client) -> None:
    image, _ = text_image([("x", 10, 10)], size=(64, 64), font_size=20)
    file_id = upload(api, encode(image, "PNG"), "x.png", auto_describe="false")
    for route in ("text", "chunks"):
        response = api.get(f"/files/{file_id}/{route}")
        assert response.status_code == 400 and "documents only" in response.text


def test_auto_describe_off_still_makes_variants(api: httpx.Client) -> None:
    image, _ = text_image([("NOT READ", 100, 100)])
    details = processed(api, encode(image), "quiet.jpg", auto_describe="false")
    assert details["description_status"] == "skipped" and details["variant_status"] == "completed"
    assert details["description"] is None and details["visible_text"] is None


def test_describe_again(api: httpx.Client) -> None:
    image, _ = text_image([("AGAIN", 100, 100)])
    file_id = upload(api, encode(image), "again.jpg", auto_describe="false")
    wait_until_terminal_sync(api, file_id)
    response = api.post(f"/files/{file_id}/describe")
    assert response.status_code == 202 and response.json()["description_status"] == "queued"
    status = wait_until_terminal_sync(api, file_id)
    assert status["description_status"] == "completed"
    assert "AGAIN" in api.get(f"/files/{file_id}").json()["visible_text"]
