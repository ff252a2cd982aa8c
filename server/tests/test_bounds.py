"""Bounded work and memory per file: container bombs, page caps, blank pages, the job budget.

The hostile files are made here: a DOCX of about 1 MB whose parts inflate to 1 GiB or 110 MB,
a PDF whose stream inflates past the bound, a blank 300-page PDF. Memory is measured in a
subprocess (its peak RSS), so that what the test process holds does not blur the figure.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from media_support import (
    blank_pdf,
    docx_bomb,
    docx_bytes,
    scanned_pdf,
    text_image,
    text_pdf,
    write_png,
)
from scopix_server.containers import TooLarge, inflate
from scopix_server.jobs.budget import Budget
from scopix_server.jobs.steps import png_bands
from scopix_server.jobs.steps.documents import DocumentLimits, extract_document
from scopix_server.jobs.steps.images import load_image
from scopix_server.jobs.steps.ocr import read_text
from scopix_server.processing import StepError
from server_support import LiveServer, make_key, serving, wait_until_terminal_sync

MiB = 1024 * 1024
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {
        "app.docx": docx_bomb("docProps/app.xml", 1024),  # 1 GiB of properties
        "body.docx": docx_bomb("word/document.xml", 110),  # 110 MB of document XML
    }


# --- the shared bound ---


def test_inflate_counts_without_keeping_and_stops_at_the_bound() -> None:
    data = zlib.compress(b"\0" * (8 * MiB), 9)
    assert inflate(data, "it", 8 * MiB) == 8 * MiB
    with pytest.raises(TooLarge, match=r"it inflates to more than 1,048,576 bytes"):
        inflate(data, "it", MiB)
    assert inflate(data[:100], "it", MiB) < MiB  # a cut stream counts what there was


# --- DOCX: refused at upload (422 validation), and in processing, with bounded memory ---


@pytest.mark.parametrize("name", ["app.docx", "body.docx"])
def test_docx_bomb_is_refused_at_upload(
    live: LiveServer, key: str, bombs: dict[str, bytes], name: str
) -> None:
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        response = api.post("/files/upload", files={"file": (name, bombs[name], DOCX)})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        part = "docProps/app.xml" if name == "app.docx" else "word/document.xml"
        assert f"the part '{part}' inflates to" in error["message"]
        assert "over the limit of 67,108,864 bytes per part" in error["message"]
        assert api.get("/files").json()["total_count"] == 0


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from scopix_server.jobs.steps.documents import extract_document
    from scopix_server.processing import StepError

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    extract_document(Path(sys.argv[1]), "docx", ocr=False)  # warm: imports, fonts
    before = peak()
    try:
        extract_document(Path(sys.argv[2]), "docx", ocr=False)
        message = None
    except StepError as error:
        message = error.message
    print(json.dumps({"grew": peak() - before, "message": message}))
    """
)


@pytest.mark.parametrize("name", ["app.docx", "body.docx"])
def test_docx_bomb_in_processing_is_refused_with_bounded_memory(
    tmp_path: Path, bombs: dict[str, bytes], name: str
) -> None:
    normal = tmp_path / "normal.docx"
    normal.write_bytes(docx_bytes(["Warm-up"]))
    bomb = tmp_path / name
    bomb.write_bytes(bombs[name])
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(normal), str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(run.stdout)
    assert found["message"] and "inflates to" in found["message"], found
    assert found["grew"] < 50 * MiB, f"peak RSS grew by {found['grew'] / MiB:.0f} MiB"


def test_a_large_but_bounded_docx_is_read_as_a_stream(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {n} of a long report." for n in range(3000)]
    path = tmp_path / "long.docx"
    path.write_bytes(docx_bytes(paragraphs))
    document = extract_document(path, "docx", ocr=False)
    assert document.text.splitlines() == paragraphs


# --- PDF: streams bounded, pages capped, blank pages skipped, the budget kept ---


def _pdf_with_stream(inflated: bytes) -> bytes:
    """A one-page PDF whose content stream is ``inflated``, Flate-compressed."""
    stream = zlib.compress(inflated, 9)
    body = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(body, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + content + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(body) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
    out.write(trailer % (len(body) + 1, xref))
    return out.getvalue()


def test_pdf_stream_past_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(_pdf_with_stream(b"BT ET " + b" " * (3 * MiB)))
    with pytest.raises(StepError) as refused:
        extract_document(path, "pdf", ocr=False, limits=DocumentLimits(max_part_bytes=2 * MiB))
    assert refused.value.error_type == "validation"
    assert "stream 1 of the PDF inflates to more than 2,097,152 bytes" in refused.value.message
    # within the bound the same file opens (and has no text)
    with pytest.raises(StepError, match="no text could be extracted"):
        extract_document(path, "pdf", ocr=False, limits=DocumentLimits(max_part_bytes=4 * MiB))


def test_pages_past_the_cap_are_counted_but_not_read(tmp_path: Path) -> None:
    path = tmp_path / "five.pdf"
    path.write_bytes(text_pdf([[f"Page number {n}"] for n in range(1, 6)]))
    document = extract_document(path, "pdf", ocr=False, limits=DocumentLimits(max_pages=2))
    assert document.page_count == 5
    assert [page.strip() for page in document.pages] == ["Page number 1", "Page number 2"]


def test_blank_pages_are_skipped_before_ocr(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pdf"
    import pypdfium2 as pdfium

    scanned = pdfium.PdfDocument(scanned_pdf([("Scanned words", 100, 200)]))
    merged = pdfium.PdfDocument(blank_pdf(3))
    merged.import_pages(scanned)
    out = io.BytesIO()
    merged.save(out)
    path.write_bytes(out.getvalue())
    document = extract_document(path, "pdf", ocr=True)
    assert document.blank_pages == [1, 2, 3]
    assert document.ocr_pages == [4]
    assert "Scanned" in document.text


def test_a_spent_budget_stops_between_pages(tmp_path: Path) -> None:
    path = tmp_path / "five.pdf"
    path.write_bytes(text_pdf([[f"Page {n}"] for n in range(5)]))
    spent = Budget(seconds=3, deadline=time.monotonic() - 1)
    with pytest.raises(StepError) as stopped:
        extract_document(path, "pdf", ocr=False, limits=DocumentLimits(budget=spent))
    assert stopped.value.error_type == "resource_limit"
    assert "time budget of 3 s (reading page 1 of 5)" in stopped.value.message


@pytest.fixture(scope="module")
def working(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("bounds"), job_timeout_seconds=4) as server:
        yield server


def test_a_blank_300_page_pdf_does_not_hold_a_worker(working: LiveServer) -> None:
    key = make_key(working.settings)
    with httpx.Client(
        base_url=working.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        response = api.post("/files/upload", files={"file": ("blank.pdf", blank_pdf(300))})
        assert response.status_code == 201, response.text
        # 300 OCR'd pages took minutes; skipped as blank they fit well within the 4 s budget
        done = wait_until_terminal_sync(api, response.json()["image_id"], timeout=60)
    assert done["status"] == "failed"
    assert done["text_extraction_status"] == "failed"
    assert "pages read are blank" in done["description_error"]
    assert done["description_error_type"] == "validation"


def test_a_job_past_its_budget_ends_failed_and_frees_the_worker(working: LiveServer) -> None:
    key = make_key(working.settings)
    pages = [("Scanned page text", 100, 200 + 80 * n) for n in range(6)]
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    for _ in range(12):  # a dozen scanned pages: OCR of all of them takes far over 4 s
        merged.import_pages(pdfium.PdfDocument(scanned_pdf(pages)))
    out = io.BytesIO()
    merged.save(out)
    with httpx.Client(
        base_url=working.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        slow = api.post("/files/upload", files={"file": ("scans.pdf", out.getvalue())})
        assert slow.status_code == 201, slow.text
        quick = api.post("/files/upload", files={"file": ("note.txt", b"A short note.")})
        done = wait_until_terminal_sync(api, slow.json()["image_id"], timeout=60)
        assert done["status"] == "failed"
        assert done["description_error_type"] == "resource_limit"
        assert "time budget of 4 s" in done["description_error"]
        assert "MEMORY" not in done["description_error"]  # a time limit, not memory
        after = wait_until_terminal_sync(api, quick.json()["image_id"], timeout=30)
        assert after["status"] == "completed"


# --- images: reduced before they are turned upright and converted ---

_IMAGE_PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from PIL import Image
    from scopix_server.jobs.steps.images import load_image

    Image.new("RGB", (8, 8)).save(sys.argv[1] + "/tiny.png")
    big = Image.new("RGBA", (6000, 6000), (10, 200, 30, 128))
    big.save(sys.argv[1] + "/big.png", compress_level=1)
    del big
    load_image(Path(sys.argv[1] + "/tiny.png"), max_pixels=10**9)  # warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    image, facts = load_image(Path(sys.argv[1] + "/big.png"), max_pixels=10**9)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    print(json.dumps({"grew": grew, "size": list(image.size), "width": facts.width}))
    """
)


def test_a_large_transparent_png_costs_about_one_decode(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _IMAGE_PEAK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    found = json.loads(run.stdout)
    assert found["width"] == 6000 and max(found["size"]) <= 2048
    decoded = 6000 * 6000 * 4  # one RGBA decode
    # (converted and flattened at full size it cost over four decodes: 583 MiB here)
    assert found["grew"] < 3 * decoded, f"{found['grew'] / MiB:.0f} MiB"


# --- large PNGs: decoded band by band, each band reduced before the next is read ---

_BANDED_PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from PIL import Image
    from media_support import exif_orientation, write_png
    from scopix_server.jobs.steps.images import load_image

    folder, width, height = Path(sys.argv[1]), 13000, 12000
    Image.new("RGB", (8, 8)).save(folder / "tiny.png")
    def row(y):  # a band of 1000 rows starts with a plain row; the others repeat it ("up")
        if y % 1000:
            return b"\\x02" + bytes(3 * width)
        return b"\\x00" + (b"\\xf0" if y // 1000 % 2 else b"\\x20") * (3 * width)
    with open(folder / "big.png", "wb") as out:  # the EXIF after the pixels, as some write it
        write_png(out, (width, height), row, after=[(b"eXIf", exif_orientation(6))])
    load_image(folder / "tiny.png", max_pixels=10**9)  # warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    image, facts = load_image(folder / "big.png", max_pixels=10**9)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    found = {"grew": grew, "size": list(image.size), "facts": [facts.width, facts.height]}
    found["extrema"] = image.convert("L").getextrema()
    print(json.dumps(found))
    """
)


def test_a_13000_pixel_png_is_decoded_in_bands_with_bounded_memory(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _BANDED_PEAK, str(tmp_path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = json.loads(run.stdout)
    assert found["facts"] == [12000, 13000]  # the late eXIf was read: turned upright
    assert max(found["size"]) <= 2048 and found["size"][1] > found["size"][0]
    low, high = found["extrema"]
    assert low < 60 and high > 200  # both kinds of band survived the "up" rows between them
    decoded = 13000 * 12000 * 4  # one RGB decode (Pillow keeps 4 bytes a pixel): 595 MiB
    # (decoded whole, as before, it grew by a full decode: 696 MiB for 13000x13000)
    assert found["grew"] < decoded / 3, f"{found['grew'] / MiB:.0f} MiB"


_LAYOUTS = {  # PNG colour type: (samples a pixel, Pillow mode)
    0: (1, "L"),
    2: (3, "RGB"),
    3: (1, "P"),
    4: (2, "LA"),
    6: (4, "RGBA"),
}


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


@pytest.mark.parametrize("color_type", sorted(_LAYOUTS))
def test_png_bands_give_the_pixels_of_a_whole_decode(
    color_type: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples, mode = _LAYOUTS[color_type]
    width, height, factor = 150, 210, 3
    monkeypatch.setattr(png_bands, "BAND_BYTES", width * 4 * 7)  # bands of 6 rows
    noise = random.Random(color_type)

    def row(y: int) -> bytes:  # every filter, on rows of noise: each band needs the one before
        return bytes([y % 5]) + noise.randbytes(width * samples)

    palette = [(b"PLTE", random.Random(1).randbytes(3 * 256)), (b"tRNS", bytes(range(256)))]
    path = tmp_path / f"{mode}.png"
    with path.open("wb") as out:
        write_png(out, (width, height), row, color_type=color_type, before=palette * (mode == "P"))
    with Image.open(path) as opened:
        assert png_bands.supports(opened)
        opened.load()
        whole = _on_white(opened) if "A" in mode or mode == "P" else opened.convert("RGB")
    expected = whole.reduce(factor)
    image, facts = load_image(path, max_pixels=10**9, work_side=70)
    assert (facts.width, facts.height, facts.format) == (width, height, "png")
    assert image.size == expected.size == (50, 70)
    assert image.tobytes() == expected.tobytes()


def test_a_truncated_large_png_is_a_validation_failure(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    with path.open("wb") as out:
        write_png(out, (300, 300), lambda y: b"\x01" + random.Random(y).randbytes(900))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(StepError) as failed:
        load_image(path, max_pixels=10**9, work_side=100)
    assert failed.value.error_type == "validation"
    assert "cut short" in failed.value.message


def test_text_in_a_large_png_stays_readable(tmp_path: Path) -> None:
    lines = [("LARGE SCAN", 300, 600), ("READ IN BANDS", 300, 1700)]
    drawn, _ = text_image(lines, size=(6300, 3000), font_size=330)
    path = tmp_path / "scan.png"
    drawn.save(path, compress_level=1)
    del drawn
    with Image.open(path) as opened:
        assert png_bands.supports(opened)
    image, _ = load_image(path, max_pixels=10**9)
    assert image.size == (2048, 975)  # a third, then to 2048: what RapidOCR reads (<= 2000)
    text = read_text(image).text
    assert "LARGE SCAN" in text and "READ IN BANDS" in text


# --- process memory: freed heap goes back to the OS (the shared budget: test_isolation) ---


_FREED = textwrap.dedent(
    """
    from pathlib import Path
    from scopix_server.jobs.memory import release_freed

    def resident():
        status = Path("/proc/self/status").read_text().split("VmRSS:")[1]
        return int(status.split()[0]) * 1024

    pieces = [bytearray(1000) for _ in range(200_000)]  # 200 MB of small heap blocks
    pinned = bytearray(1000)  # above them: the heap's top cannot shrink by itself
    del pieces
    held = resident()
    assert release_freed()
    print(held - resident())
    """
)


def test_freed_memory_is_returned_to_the_os() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _FREED], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(run.stdout) > 150 * MiB  # the freed blocks left the process


@pytest.mark.parametrize(
    ("taken", "offset"), [("9999:12:31 23:59:59", "-01:00"), ("0001:01:01 00:00:00", "+01:00")]
)
def test_an_exif_date_at_the_end_of_time_is_read_not_fatal(
    tmp_path: Path, taken: str, offset: str
) -> None:
    """A capture time whose offset carries it past year 9999 (or before year 1) in UTC: the
    picture is read, the time taken as written (as when no offset is recorded)."""
    exif = Image.Exif()
    exif[0x0132] = taken  # DateTime
    exif[0x9010] = offset  # OffsetTime
    path = tmp_path / "timeless.jpg"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(path, "JPEG", exif=exif.tobytes())
    _, facts = load_image(path, max_pixels=10**6)
    assert facts.content_created_at is not None
    assert facts.content_created_at.year == int(taken[:4])
