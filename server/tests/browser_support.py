"""Debian's Chromium driven by Playwright (never ``playwright install``), and helpers for the
console tests: signing in, dropping files on the page, an axe-core scan, screenshots."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARTEFACTS = Path(
    os.environ.get("SCOPIX_TEST_ARTEFACTS")
    or Path(__file__).resolve().parents[2] / "test-artefacts"
)


def chromium_path() -> str:
    """The system's Chromium; a clear failure (not a skip) where it is missing."""
    configured = os.environ.get("SCOPIX_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(
        "the console tests need Chromium: run scripts/services (apt-get install chromium), "
        "or set SCOPIX_CHROMIUM to its path"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def signed_in(page: Page, root_url: str, key: str) -> None:
    """Open the console with ``key`` already in session storage (as the sign-in form leaves it)."""
    page.add_init_script(f"sessionStorage.setItem('scopix.apiKey', {key!r});")
    page.goto(f"{root_url}/")
    page.wait_for_selector("body[data-gallery-ready='true']")


_DROP = """([files, selector]) => {
  const data = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def drop_files(
    page: Page, files: list[tuple[str, str, bytes]], selector: str = "#dropzone"
) -> None:
    """Drop ``(name, type, bytes)`` files on ``selector`` as a user's drag and drop does."""
    payload = [
        {"name": name, "type": kind, "data": base64.b64encode(data).decode()}
        for name, kind, data in files
    ]
    page.evaluate(_DROP, [payload, selector])


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    import axe_playwright_python  # (only for the axe-core script it ships)

    source = (
        Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text(encoding="utf-8")
    )
    page.evaluate(source)  # (evaluated by the browser's debugger: the page's CSP does not apply)
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def screenshot(page: Page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
