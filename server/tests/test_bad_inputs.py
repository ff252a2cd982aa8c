"""The bad-input corpus: each gets its documented status and code; refused ones leave nothing."""

from __future__ import annotations

import io
import json
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from scopix_server import Settings
from server_support import (
    ELF,
    GIF_1X1,
    JPEG_HEAD,
    LiveServer,
    make_key,
    png_bytes,
    serving,
    start_server,
    stored_objects,
    temp_files,
    wait_until_terminal_sync,
)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a 1 MiB upload cap, so that over-size uploads are quick to send.

    No workers: these tests count stored and temporary files, which the pipeline also writes.
    """
    settings = Settings(data_dir=tmp_path_factory.mktemp("small"), max_upload_bytes=MiB, workers=0)
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def api(small: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(small.settings)
    with httpx.Client(base_url=small.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buffer.getvalue()


ACCEPTED = [
    ("truncated.jpg", JPEG_HEAD + b"\x00" * 100, "image", "image/jpeg"),  # decoding is later
    ("photo.jpg", png_bytes(), "image", "image/png"),  # the extension lies; the bytes decide
    ("dot.gif", GIF_1X1, "image", "image/gif"),
    ("notes.md", "# Title\n\nSome *text* — ünïcode.\n".encode(), "document", "text/markdown"),
    ("commented.md", b"<!-- lint: off -->\n# Title\n\nUse <b>bold</b>; a < b.", "document",
     "text/markdown"),
    ("report.docx", docx_bytes(), "document", (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
    ("scan.pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "document",
     "application/pdf"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "media_type", "content_type"), ACCEPTED)
def test_accepted_by_content(
    api: httpx.Client, name: str, data: bytes, media_type: str, content_type: str
) -> None:
    response = api.post("/files/upload", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["media_type"], body["content_type"]) == (media_type, content_type)
    assert body["size_bytes"] == len(data)


REFUSED = [
    ("empty.png", b"", "the file is empty"),
    ("photo.jpg", ELF, "ELF executable"),
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "Windows executable"),
    ("run.sh", b"#!/bin/sh\nrm -rf /\n", "script"),
    ("page.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "markup"),
    ("image.svg", b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "markup"),
    # markup behind a prefix: a comment, whitespace and a byte order mark, or a first line
    ("comment.txt", b"<!-- x --><html><script>alert(1)</script>", "markup"),
    ("bom.txt", b"\xef\xbb\xbf \n<!-- a -->\n<!--b--> <BODY onload=x>", "markup"),
    ("open.txt", b"<!-- never closed <p>hello", "markup"),
    ("later.md", b"# Notes\n\nfine so far\n" * 50 + b"<script>alert(1)</script>", "markup"),
    ("archive.zip", zip_bytes(), "not a Word document"),
    ("data.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip"),
    ("random.bin", bytes(range(256)) * 4, "binary"),
]


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED)
def test_refused_with_415_and_nothing_kept(
    small: LiveServer, api: httpx.Client, name: str, data: bytes, reason: str
) -> None:
    before = len(stored_objects(small.settings))
    response = api.post("/files/upload", files={"file": (name, data, "image/png")})
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert reason in error["message"]
    assert len(stored_objects(small.settings)) == before
    assert temp_files(small.settings) == []
    assert api.get("/files").json()["total_count"] == 0


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_path_traversal_filename_is_only_a_name(small: LiveServer, api: httpx.Client) -> None:
    response = api.post(
        "/files/upload", files={"file": ("../../../../etc/passwd.png", png_bytes())}
    )
    assert response.status_code == 201
    assert response.json()["filename"] == "passwd.png"
    objects_root = small.settings.data_dir / "storage" / "objects"
    assert all(objects_root in p.parents for p in stored_objects(small.settings))
    assert not (small.settings.data_dir / "etc").exists()


def test_ten_thousand_character_title(api: httpx.Client) -> None:
    response = api.post(
        "/files/upload", files={"file": ("a.png", png_bytes())}, data={"title": "t" * 10_000}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["field"] == "title"
    assert api.get("/files").json()["total_count"] == 0


def test_a_title_is_measured_as_sent(api: httpx.Client) -> None:
    """The schema bounds the value sent: 256 characters are refused even when one of them is
    invisible and the stored title would have been 255 (what schema-checking clients expect)."""
    sent = "\u00ed\r" + "*" * 254
    response = api.post(
        "/files/upload", files={"file": ("a.png", png_bytes())}, data={"title": sent}
    )
    assert response.status_code == 422
    assert "at most 255 characters, got 256" in response.json()["error"]["message"]
    fits = api.post(
        "/files/upload", files={"file": ("a.png", png_bytes())}, data={"title": sent[1:]}
    )
    assert fits.status_code == 201
    assert api.get(f"/files/{fits.json()['image_id']}").json()["title"] == "*" * 254


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tags": ",".join(f"t{i}" for i in range(41))}, "tags"),
        ({"tags": "x" * 51}, "tags"),
        ({"auto_describe": "maybe"}, "auto_describe"),
        ({"content_category": "cats"}, "content_category"),
        ({"folder_id": "not-a-uuid"}, "folder_id"),
        ({"storage_target": "mars"}, "storage_target"),
    ],
)
def test_bad_form_fields(api: httpx.Client, fields: dict[str, str], field: str) -> None:
    response = api.post("/files/upload", files={"file": ("a.png", png_bytes())}, data=fields)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["errors"][0]["field"] == field


def test_custom_storage_target_needs_configuration(api: httpx.Client) -> None:
    response = api.post(
        "/files/upload", files={"file": ("a.png", png_bytes())}, data={"storage_target": "custom"}
    )
    assert response.status_code == 400
    assert "not configured" in response.json()["error"]["message"]


def test_over_the_cap_is_413_with_the_direct_upload_suggestion(
    small: LiveServer, api: httpx.Client
) -> None:
    big = png_bytes() + b"\x00" * (MiB + 10)
    response = api.post("/files/upload", files={"file": ("big.png", big)})
    assert response.status_code == 413
    body = response.json()
    assert body["error"]["code"] == "FILE_TOO_LARGE"
    assert body["suggestion"] == {"endpoint": "/api/v2/files/direct-uploads"}
    assert temp_files(small.settings) == [] and api.get("/files").json()["total_count"] == 0


@pytest.mark.parametrize(
    ("headers", "content", "status", "fragment"),
    [
        ({}, b"raw bytes", 415, "missing Content-Type"),
        ({"Content-Type": "application/json"}, b"{}", 415, "multipart/form-data"),
        ({"Content-Type": "multipart/form-data"}, b"x", 400, "boundary"),
        ({"Content-Type": "multipart/form-data; boundary=XyZ"}, b"", 400, "truncated"),
        ({"Content-Type": "multipart/form-data; boundary=XyZ"}, b"--XyZ\r\nnonsense", 400, ""),
        (
            {"Content-Type": "multipart/form-data; boundary=XyZ"},
            b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nhi\r\n--XyZ--\r\n',
            422,
            "no file",
        ),
    ],
)
def test_malformed_requests(
    small: LiveServer,
    api: httpx.Client,
    headers: dict[str, str],
    content: bytes,
    status: int,
    fragment: str,
) -> None:
    response = api.post("/files/upload", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]
    assert temp_files(small.settings) == []


@pytest.mark.parametrize(
    "path", ["/images/analyze", "/chat/sessions", "/files/direct-uploads", "/files/batch-delete"]
)
def test_json_nested_too_deeply_is_a_400(api: httpx.Client, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.post(path, content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_time_out_of_range_in_utc_is_a_422(api: httpx.Client, moment: str) -> None:
    for name in ("date_from", "date_to"):
        response = api.get("/files", params={name: moment})
        assert response.status_code == 422, response.text
        assert "out of range" in response.json()["error"]["message"]


def test_nul_characters_are_dropped_wherever_text_is_stored(tmp_path: Path) -> None:
    """PostgreSQL cannot keep U+0000 in text: a NUL in a title, a tag, a file name, metadata, a
    search or a chat message is dropped (on SQLite too, so both keep the same text), never a
    500; a picture whose EXIF fields hold NULs is processed as any other."""
    with serving(tmp_path, vision_enabled=False) as live:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api:
            made = api.post("/chat/sessions", json={"title": "Tax\u0000 notes"})
            assert made.status_code == 201, made.text
            session_id = made.json()["session_id"]
            asked = api.post(
                f"/chat/sessions/{session_id}/messages", json={"message": "late\u0000 fees?"}
            )
            assert asked.status_code == 200, asked.text
            detail = api.get(f"/chat/sessions/{session_id}").json()
            assert detail["session"]["title"] == "Tax notes"
            assert detail["messages"][0]["content"] == "late fees?"

            upload = api.post(
                "/files/upload",
                files={"file": ("sign\x00.png", png_bytes(8, 8))},
                data={"metadata": json.dumps({"place": "Lis\u0000bon"})},
            )
            assert upload.status_code == 201, upload.text
            file_id = upload.json()["image_id"]
            changed = api.patch(
                f"/files/{file_id}", json={"title": "a\u0000b", "tags": ["c\u0000d"]}
            )
            assert changed.status_code == 200, changed.text
            shown = api.get(f"/files/{file_id}").json()
            assert (shown["title"], shown["tags"]) == ("ab", ["cd"])
            assert "\x00" not in shown["filename"]
            for mode in ("all", "hybrid"):
                found = api.get("/files", params={"search": "a\x00b", "search_mode": mode})
                assert found.status_code == 200, found.text

            picture = Image.new("RGB", (64, 64), (10, 200, 30))
            exif = Image.Exif()
            exif[0x010F] = "Can\x00on"  # Make
            exif[0x0110] = "Power\x00Shot"  # Model
            exif[0x010E] = "a \x00 description"  # ImageDescription
            data = io.BytesIO()
            picture.save(data, "JPEG", exif=exif.tobytes())
            sent = api.post("/files/upload", files={"file": ("exif.jpg", data.getvalue())})
            assert sent.status_code == 201, sent.text
            wait_until_terminal_sync(api, sent.json()["image_id"], timeout=120)
            status = api.get(f"/files/{sent.json()['image_id']}/status").json()
            assert status["status"] == "completed", status


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(tmp_path: Path) -> None:
    """A bug answers 500 with a request id, and the client's keep-alive connection stays up:
    its next request on it is answered (Starlette's own handler would drop the connection)."""
    live = start_server(Settings(data_dir=tmp_path, workers=0))
    app = live.server.config.app

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v2/test-only/broken", broken)
    try:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as api:
            for _ in range(3):
                failed = api.get("/test-only/broken")
                assert failed.status_code == 500
                assert failed.json()["error"]["code"] == "SERVER_ERROR"
                assert failed.json()["request_id"] == failed.headers["X-Request-ID"]
                assert "a bug" not in failed.text  # (no stack trace, no message of ours)
                assert api.get("/tenant").status_code == 200
    finally:
        live.stop()


def _raw_upload(api: httpx.Client, file_disposition: str, before: str = "") -> httpx.Response:
    """An upload whose multipart body is written by hand: ``before`` (whole parts), then the
    file part with ``file_disposition`` after its ``name="file"``."""
    boundary = "b0und"
    head = (
        f'{before}--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f"{file_disposition}\r\n\r\n"
    ).replace("{boundary}", boundary)
    body = head.encode() + png_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return api.post(
        "/files/upload",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_non_latin1_part_headers_are_read_as_utf8(api: httpx.Client) -> None:
    unknown = '--{boundary}\r\nContent-Disposition: form-data; name="\U000bf4aa"\r\n\r\nx\r\n'
    response = _raw_upload(api, 'filename="\u00e9t\u00e9.png"', before=unknown)
    # the unknown field is ignored; the UTF-8 filename arrives intact
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "\u00e9t\u00e9.png"


@pytest.mark.parametrize(
    ("disposition", "stored"),
    [
        ("filename*=UTF-8''caf%C3%A9%20menu.png", "café menu.png"),
        ("filename=\"fallback.png\"; filename*=utf-8'en'%E2%82%AC%20rates.png", "€ rates.png"),
        ("filename*=iso-8859-1''caf%E9.png", "café.png"),
        ("filename*=UTF-8''..%2F..%2Fetc%2Fpasswd.png", "passwd.png"),
        ("filename=\"kept.png\"; filename*=nonsense''%FF.png", "kept.png"),
    ],
)
def test_an_extended_filename_names_the_file(
    api: httpx.Client, disposition: str, stored: str
) -> None:
    """RFC 5987's ``filename*`` (sent by some clients) names the file, decoded in its charset
    and cleaned as any name; one that cannot be decoded leaves the plain ``filename``."""
    response = _raw_upload(api, disposition)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == stored


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    small: LiveServer, api: httpx.Client
) -> None:
    key = api.headers["Authorization"]
    host, port = small.root_url.removeprefix("http://").split(":")
    head = (
        f"POST /api/v2/files/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: {key}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 900000\r\n\r\n"
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    ).encode()
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(head + png_bytes() + b"\x00" * 200_000)
        time.sleep(0.3)  # the server is now writing the part to a temporary file
    deadline = time.monotonic() + 5
    while temp_files(small.settings) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert temp_files(small.settings) == []
    assert api.get("/files").json()["total_count"] == 0


def test_a_full_disk_is_a_503_and_leaves_nothing(
    small: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scopix_server.storage import local

    def no_space(self: object, chunk: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local._LocalPending, "write", no_space)
    response = api.post("/files/upload", files={"file": ("a.png", png_bytes())})
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "No space left on device" in error["message"]
    monkeypatch.undo()
    assert temp_files(small.settings) == []
    assert api.get("/files").json()["total_count"] == 0
