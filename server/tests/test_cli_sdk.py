"""The ``scopix`` command line, through its installed entry point, against the real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scopix_server import Settings
from server_support import LiveServer, make_key, png_bytes, start_server

pytestmark = pytest.mark.socket

SCOPIX = Path(sys.executable).parent / "scopix"
CORRUPT = png_bytes(8, 8)[:40] + b"broken" * 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("cli")),
            workers=1,
            ocr_enabled=False,
            job_poll_seconds=0.05,
        )
    )
    yield live
    live.stop()


@pytest.fixture
def env(server: LiveServer) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCOPIX_")},
        "SCOPIX_API_KEY": make_key(server.settings),
        "SCOPIX_BASE_URL": server.base_url,
        "SCOPIX_POLLING_INTERVAL": "0.1",
    }


def scopix(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCOPIX), *args], env=env, capture_output=True, text=True, timeout=120
    )


def parsed(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_upload_wait_and_read_back(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(10, 10, (1, 2, 3)))
    (folder / "b.png").write_bytes(png_bytes(10, 10, (4, 5, 6)))
    (folder / "broken.png").write_bytes(CORRUPT)
    uploaded = scopix(env, "upload", str(folder), "--wait", "--tag", "cli", "--json")
    assert uploaded.returncode == 1, uploaded.stderr  # one file failed
    body = parsed(uploaded)
    assert (body["succeeded"], body["failed"], body["skipped"]) == (2, 1, 0)
    broken = next(r for r in body["results"] if r["filename"] == "broken.png")
    assert broken["description_error_type"] == "validation"
    file_id = next(r["image_id"] for r in body["results"] if r["filename"] == "a.png")

    status = scopix(env, "status", file_id, "--json")
    assert status.returncode == 0 and parsed(status)["description_status"] == "completed"
    details = scopix(env, "get", file_id, "--json")
    assert details.returncode == 0 and "cli" in parsed(details)["tags"]
    listed = scopix(env, "ls", "--tag", "cli", "--json")
    assert listed.returncode == 0 and parsed(listed)["total_count"] == 3
    again = scopix(env, "describe", file_id, "--wait", "--json")
    assert again.returncode == 0 and parsed(again)["description_status"] == "completed"
    quota = scopix(env, "quota", "--json")
    assert quota.returncode == 0 and parsed(quota)["can_proceed"] is True

    human = scopix(env, "upload", str(folder / "broken.png"))
    assert human.returncode == 0
    assert "still processing" in human.stdout  # stored; its processing is not awaited


def test_a_human_summary_names_the_failures(env: dict[str, str], tmp_path: Path) -> None:
    tool = tmp_path / "tool.png"
    tool.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56)
    result = scopix(env, "upload", str(tool))
    assert result.returncode == 1
    assert (
        "failures" in result.stdout
        and "tool.png" in result.stdout
        and "validation" in result.stdout
    )


def test_exit_codes(env: dict[str, str], server: LiveServer) -> None:
    no_key = {k: v for k, v in env.items() if k != "SCOPIX_API_KEY"}
    missing = scopix(no_key, "quota")
    assert missing.returncode == 2 and "SCOPIX_API_KEY" in missing.stderr
    unknown = scopix(env, "get", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 3 and "not found" in unknown.stderr.lower()
    wrong_key = scopix({**env, "SCOPIX_API_KEY": "scopix_ABCDEFGH_" + "x" * 40}, "quota")
    assert wrong_key.returncode == 3
    closed = scopix(
        {**env, "SCOPIX_BASE_URL": "http://127.0.0.1:9/api/v2", "SCOPIX_MAX_RETRIES": "0"},
        "quota",
    )
    assert closed.returncode == 4 and "error" in closed.stderr
    assert scopix(env, "upload").returncode == 2  # no path
    assert scopix(env, "ls", "--limit", "500").returncode == 2
    helped = scopix(env, "upload", "--help")
    assert helped.returncode == 0 and "--wait" in helped.stdout


def test_cli_as_a_new_user_meets_it(
    env: dict[str, str], server: LiveServer, tmp_path: Path
) -> None:
    """Issue 12 §7: JSON without Python reprs, whole ids when piped, plurals, clear config
    errors, the /api/v2 hint and an empty folder refused."""
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes(png_bytes(12, 12, (9, 8, 7)))
    uploaded = scopix(env, "upload", str(one))
    assert uploaded.returncode == 0, uploaded.stderr
    assert "1 file:" in uploaded.stdout and "1 files" not in uploaded.stdout
    listed = scopix(env, "ls", "--json")
    item = parsed(listed)["items"][0]
    assert isinstance(item, dict) and item["filename"] == "a.png"  # not a repr string
    assert "UserFile(" not in listed.stdout and "datetime." not in listed.stdout
    piped = scopix(env, "ls")  # stdout is a pipe here
    file_id = piped.stdout.split("\t")[0]
    assert len(file_id) == 36 and scopix(env, "get", file_id).returncode == 0

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = scopix(env, "upload", str(empty))
    assert nothing.returncode == 2 and "nothing to upload" in nothing.stderr

    no_key = {k: v for k, v in env.items() if k != "SCOPIX_API_KEY"}
    missing = scopix(no_key, "ls")
    assert missing.returncode == 2
    assert "export SCOPIX_API_KEY" in missing.stderr and "api_key=" not in missing.stderr
    bad_url = scopix({**env, "SCOPIX_TIMEOUT": "-1"}, "ls")
    assert bad_url.returncode == 2 and "SCOPIX_API_KEY, or pass --api-key" not in bad_url.stderr

    root = server.base_url.removesuffix("/api/v2")
    no_prefix = scopix({**env, "SCOPIX_BASE_URL": root}, "ls")
    assert no_prefix.returncode == 3
    assert f"{root}/api/v2" in " ".join(no_prefix.stderr.split())


def test_search_prints_ranked_ids(env: dict[str, str], tmp_path: Path) -> None:
    note = tmp_path / "orchard.txt"
    note.write_text("Pick the apples in October, when the pears in the orchard are ripe too.")
    uploaded = scopix(env, "upload", str(note), "--wait", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    file_id = parsed(uploaded)["results"][0]["image_id"]
    deadline = time.monotonic() + 60
    while scopix(env, "status", file_id, "--json").stdout.count('"is_terminal": true') == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    found = scopix(env, "search", "fruit harvest in autumn", "--documents", "--json")
    assert found.returncode == 0, found.stderr
    body = parsed(found)
    assert body["results"][0]["document_id"] == file_id and body["search_mode"] == "hybrid"
    piped = scopix(env, "search", "fruit harvest in autumn", "--documents", "--limit", "1")
    assert piped.returncode == 0
    score, document_id, filename, pages, passage = piped.stdout.strip().split("\t")
    assert document_id == file_id and filename == "orchard.txt" and pages == "1"
    assert 0 < float(score) <= 1 and passage.startswith("Pick the apples")
    images = scopix(env, "search", "fruit", "--mode", "psychic")
    assert images.returncode == 2 and "psychic" in images.stderr


def test_chat_streams_an_answer_with_its_citations(env: dict[str, str], tmp_path: Path) -> None:
    note = tmp_path / "boat.txt"
    note.write_text("The ferry to the island leaves the harbour at nine and returns at six.")
    uploaded = scopix(env, "upload", str(note), "--wait", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    file_id = parsed(uploaded)["results"][0]["image_id"]
    deadline = time.monotonic() + 60
    while scopix(env, "status", file_id, "--json").stdout.count('"is_terminal": true') == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    once = scopix(env, "chat", "when does the ferry leave?")
    assert once.returncode == 0, once.stderr
    assert "No language model is configured" in once.stdout
    assert "ferry to the island leaves the harbour at nine" in once.stdout
    link = env["SCOPIX_BASE_URL"].removesuffix("/api/v2") + f"/#/files/{file_id}"
    assert f"boat.txt (document pages 1) {file_id}  {link}" in once.stdout

    as_json = scopix(env, "chat", "ferry timetable", "--json")
    assert as_json.returncode == 0, as_json.stderr
    answer = parsed(as_json)
    assert answer["mode"] == "retrieval"
    assert file_id in {c["file_id"] for c in answer["citations"]}

    # a conversation on stdin: two questions, then the end of input
    talk = subprocess.run(
        [str(SCOPIX), "chat"],
        env=env,
        input="ferry\nharbour at nine\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert talk.returncode == 0, talk.stderr
    assert talk.stdout.count("Cited:") == 2
    assert scopix(env, "chat", "--json").returncode == 2
