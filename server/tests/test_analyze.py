"""``POST /images/analyze``: multipart, base64 and URL input, waiting, and every bad input."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from media_support import encode, text_image, text_pdf
from scopix_server import Settings
from server_support import (
    LiveServer,
    make_key,
    start_server,
    stored_objects,
    wait_until_terminal_sync,
)

pytestmark = pytest.mark.socket

SIGN_IMAGE, _ = text_image([("ANALYZE ME", 100, 150)], size=(900, 400))
SIGN = encode(SIGN_IMAGE, "PNG")


class Site:
    """A web server with an image, a redirect to it, a missing page and a slow one."""

    def __init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                site.hosts.append(self.headers.get("host", ""))
                if self.path == "/photos/sign%20board.png":
                    self._send(200, SIGN, "image/png")
                elif self.path == "/go":
                    self.send_response(302)
                    self.send_header("location", "/photos/sign%20board.png")
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif self.path == "/loop":
                    self.send_response(302)
                    self.send_header("location", "/loop")
                    self.send_header("content-length", "0")
                    self.end_headers()
                else:
                    self._send(404, b"not here", "text/plain")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.hosts: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    web = Site()
    yield web
    web.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("analyze")),
            workers=1,
            fetch_private_urls=True,  # the test site is on loopback
            max_upload_bytes=1024 * 1024,
            job_poll_seconds=0.05,
        )
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


def assert_described(body: dict[str, Any]) -> None:
    assert body["description_status"] == "completed" and body["status"] == "completed"
    assert "ANALYZE" in body["visible_text"] and "ANALYZE" in body["description"]
    assert body["text_regions"] and body["thumbnail_url"]
    assert body["dimensions"] == {"width": 900, "height": 400}


def test_multipart_upload_waits_for_the_description(api: httpx.Client) -> None:
    response = api.post(
        "/images/analyze",
        files={"file": ("sign.png", SIGN, "image/png")},
        data={"content_category": "auto"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_described(body)
    assert body["content_category"] == "general"  # auto: no hint, stored as general
    assert api.get(f"/files/{body['id']}").json()["description"] == body["description"]


def test_base64_and_data_urls(api: httpx.Client) -> None:
    plain = base64.b64encode(SIGN).decode()
    response = api.post("/images/analyze", json={"base64": plain, "filename": "sign.png"})
    assert response.status_code == 200, response.text
    assert_described(response.json())
    assert response.json()["filename"] == "sign.png"
    wrapped = "data:image/png;base64," + "\n".join(
        plain[i : i + 76] for i in range(0, len(plain), 76)
    )
    again = api.post("/images/analyze", json={"base64": wrapped, "skip_duplicates": True})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == response.json()["id"]  # the same bytes: the existing file


def test_a_url_is_fetched_through_redirects(api: httpx.Client, site: Site) -> None:
    response = api.post("/images/analyze", json={"url": f"{site.url}/go", "timeout": 60})
    assert response.status_code == 200, response.text
    assert_described(response.json())
    assert response.json()["filename"] == "sign board.png"
    assert site.hosts[-1] == site.url.removeprefix("http://")  # the Host header is kept


def test_a_short_timeout_answers_202_and_processing_goes_on(api: httpx.Client) -> None:
    image, _ = text_image([("LATER", 100, 100)], size=(700, 300))
    response = api.post(
        "/images/analyze",
        files={"file": ("later.png", encode(image, "PNG"))},
        data={"timeout": "0"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["description_status"] in ("queued", "processing")
    wait_until_terminal_sync(api, response.json()["id"])
    assert "LATER" in api.get(f"/files/{response.json()['id']}").json()["visible_text"]


def test_a_repeated_request_answers_for_the_same_file(api: httpx.Client) -> None:
    image, _ = text_image([("ONCE", 100, 100)], size=(600, 300))
    data = encode(image, "PNG")
    first = api.post(
        "/images/analyze",
        files={"file": ("once.png", data)},
        headers={"Idempotency-Key": "analyze-once-1"},
    )
    again = api.post(
        "/images/analyze",
        files={"file": ("once.png", data)},
        headers={"Idempotency-Key": "analyze-once-1"},
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert api.get("/files").json()["total_count"] == 1  # (a fresh tenant per test)


BAD_JSON = [
    ({"url": "http://x/a.png", "base64": "AAAA"}, 422, "exactly one of 'url' and 'base64'"),
    ({"content_category": "general"}, 422, "exactly one of 'url' and 'base64'"),
    ({"base64": "not base64!!"}, 422, "not valid base64"),
    ({"base64": 12}, 422, "must be a string"),
    ({"base64": base64.b64encode(b"plain words").decode()}, 415, "is a document"),
    ({"base64": ""}, 422, "exactly one"),
    ({"base64": base64.b64encode(b"MZ\x90\x00" + b"\0" * 100).decode()}, 415, "refused"),
    ({"base64": base64.b64encode(SIGN).decode(), "timeout": "soon"}, 422, "timeout"),
    ({"base64": base64.b64encode(SIGN).decode(), "timeout": 1e9}, 422, "timeout"),
    ({"base64": base64.b64encode(SIGN).decode(), "content_category": "cats"}, 422, "auto"),
    ({"url": "ftp://example.com/a.png"}, 422, "only http and https"),
    ({"url": "not a url"}, 422, "url"),
    ({"url": "http://no-such-host.invalid/a.png"}, 422, "could not be resolved"),
    ({"base64": base64.b64encode(text_pdf([["A report"]])).decode()}, 415, "takes images"),
    ({"base64": base64.b64encode(b"\xff\xd8\xff" + b"\0" * 1_050_000).decode()}, 413, "limit"),
    ({"base64": base64.b64encode(b"\xff\xd8\xff" + b"\0" * 2_000_000).decode()}, 413, "at most"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_JSON)
def test_bad_json_input_is_refused_clearly(
    api: httpx.Client, server: LiveServer, body: dict[str, Any], status: int, words: str
) -> None:
    before = stored_objects(server.settings)
    response = api.post("/images/analyze", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
    assert stored_objects(server.settings) == before  # nothing left behind


@pytest.mark.parametrize(
    ("path", "words"),
    [("/missing.png", "answered HTTP 404"), ("/loop", "more than 5 redirects")],
)
def test_urls_that_do_not_lead_to_an_image(
    api: httpx.Client, site: Site, path: str, words: str
) -> None:
    response = api.post("/images/analyze", json={"url": site.url + path})
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


def test_other_bodies_are_refused(api: httpx.Client) -> None:
    plain = api.post("/images/analyze", content=b"hello", headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in str(plain.json()["error"])
    broken = api.post(
        "/images/analyze", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    listed = api.post("/images/analyze", json=["a"])
    assert listed.status_code == 422


def test_private_addresses_are_not_fetched_by_default(
    live: LiveServer, key: str, site: Site
) -> None:
    response = httpx.post(
        f"{live.base_url}/images/analyze",
        json={"url": f"{site.url}/photos/sign%20board.png"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "non-public address 127.0.0.1" in message
    assert "SCOPIX_SERVER_FETCH_PRIVATE_URLS" in message
