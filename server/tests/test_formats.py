"""Every still-image format the installed decoders read is accepted and processed; the others
are refused by name, with the supported formats in the refusal's details."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from media_support import encode, text_image
from scopix_server import Settings
from server_support import LiveServer, make_key, start_server, wait_until_terminal_sync


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        Settings(data_dir=tmp_path_factory.mktemp("formats"), workers=1, ocr_enabled=False)
    )
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(server.settings)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


def picture(mode: str = "RGB") -> Image.Image:
    image, _ = text_image([("FORMATS", 20, 20)], size=(160, 96), font_size=24)
    return image.convert(mode)


# (file name, Pillow format, save options, mode, expected format and content type)
MADE = [
    ("photo.avif", "AVIF", {}, "RGB", "avif", "image/avif"),
    ("scan.jp2", "JPEG2000", {}, "RGB", "jpeg2000", "image/jp2"),
    ("sprite.tga", "TGA", {}, "RGB", "tga", "image/x-tga"),
    ("favicon.ico", "ICO", {"sizes": [(64, 64)]}, "RGBA", "ico", "image/x-icon"),
    ("old.pcx", "PCX", {}, "RGB", "pcx", "image/x-pcx"),
    ("iris.sgi", "SGI", {}, "RGB", "sgi", "image/sgi"),
    ("texture.dds", "DDS", {}, "RGB", "dds", "image/x-dds"),
    ("game.blp", "BLP", {}, "P", "blp", "image/x-blp"),
    ("plain.ppm", "PPM", {}, "RGB", "ppm", "image/x-portable-anymap"),
]


@pytest.mark.parametrize(("name", "fmt", "options", "mode", "short", "content_type"), MADE)
def test_still_image_formats_are_accepted_and_processed(
    api: httpx.Client,
    name: str,
    fmt: str,
    options: dict[str, object],
    mode: str,
    short: str,
    content_type: str,
) -> None:
    data = encode(picture(mode), fmt, **options)
    response = api.post("/files/upload", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["media_type"], body["content_type"]) == ("image", content_type)
    done = wait_until_terminal_sync(api, body["image_id"])
    assert done["status"] == "completed", done
    assert api.get(f"/files/{body['image_id']}/variants/small_256").status_code in (200, 302)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("drawing.eps", EPS, "EPS needs Ghostscript, which is not installed"),
        ("random.bin", bytes(range(256)) * 4, "not an image, document or video format"),
    ],
)
def test_refusals_name_the_format_and_list_the_supported_ones(
    api: httpx.Client, name: str, data: bytes, words: str
) -> None:
    response = api.post("/files/upload", files={"file": (name, data)})
    if name.endswith(".eps") and shutil.which("gs"):  # with Ghostscript, EPS is readable
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert words in error["message"]
    supported = error["details"]["supported_formats"]
    assert {"JPEG", "PNG", "AVIF", "TGA", "ICO", "PSD", "JPEG2000", "PDF", "DOCX"} <= set(supported)
    assert "EPS" not in supported and "WMF" not in supported
