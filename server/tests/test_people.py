"""Faces grouped into people (``SCOPIX_SERVER_PEOPLE=true``), on the astronaut's portrait and
copies of it, through a real server: one person across copies, a different-looking copy a
second person until merged, names, files, the SDK's ``client.people``; and off (the default),
no descriptor is computed or stored."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageOps
from skimage import data
from sqlalchemy import func, select

from scopix import ClientConfig, SyncScopix
from scopix_server.db.models import FaceRecord
from scopix_server.db.session import create_engine
from scopix_server.settings import Settings
from server_support import LiveServer, make_key, start_server


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


ASTRONAUT = Image.fromarray(data.astronaut())
PICTURES = {
    "astronaut.jpg": _jpeg(ASTRONAUT),
    "astronaut-grey.jpg": _jpeg(ASTRONAUT.convert("L")),
    "astronaut-small.jpg": _jpeg(ASTRONAUT.resize((256, 256))),
    # solarised: still a face, but 0.77 from the original's descriptor (over 0.55: a stranger)
    "astronaut-solarised.jpg": _jpeg(ImageOps.solarize(ASTRONAUT, 128)),
    "cat.jpg": _jpeg(Image.fromarray(data.chelsea())),
}


def _upload_all(server: LiveServer, key: str, names: list[str]) -> dict[str, str]:
    """Upload ``names`` at once (concurrent requests), then wait for every file."""

    async def run() -> dict[str, str]:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/files/upload", files={"file": (name, PICTURES[name])})
                    for name in names
                )
            )
            ids = {
                name: answer.json()["image_id"] for name, answer in zip(names, answers, strict=True)
            }
            for file_id in ids.values():
                for _ in range(900):
                    details = (await client.get(f"/files/{file_id}")).json()
                    if details["status"] in ("completed", "failed"):
                        assert details["status"] == "completed", details
                        break
                    await asyncio.sleep(0.1)
            return ids

    return asyncio.run(run())


def _faces_stored(settings: Settings) -> int:
    async def run() -> int:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(select(func.count(FaceRecord.id))) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def grouping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("people"), workers=2, people=True)
    server = start_server(settings)
    try:
        yield server, make_key(settings)
    finally:
        server.stop()


def test_copies_of_one_face_are_one_person_even_processed_at_once(
    grouping: tuple[LiveServer, str],
) -> None:
    server, key = grouping
    names = list(PICTURES)
    ids = _upload_all(server, key, names)  # two workers: copies are grouped side by side
    headers = {"Authorization": f"Bearer {key}"}
    people = httpx.get(f"{server.base_url}/people", headers=headers).json()
    assert people["total_count"] == 2, people
    first, second = people["items"]
    assert first["file_count"] == 3 and first["face_count"] == 3 and first["name"] is None
    assert second["file_count"] == 1
    assert first["cover"]["file_id"] in {ids[n] for n in names[:3]}
    assert 0.3 < first["cover"]["bbox"]["x"] < 0.45
    files = httpx.get(f"{server.base_url}/people/{first['id']}/files", headers=headers).json()
    assert {item["id"] for item in files["items"]} == {ids[n] for n in names[:3]}
    assert ids["cat.jpg"] not in {item["id"] for item in files["items"]}
    # named, then the stranger merged in (it was the same astronaut after all)
    with SyncScopix.from_config(ClientConfig(api_key=key, base_url=server.base_url)) as client:
        named = client.people.rename(first["id"], "Eileen Collins")
        assert named.name == "Eileen Collins" and named.file_count == 3
        merged = client.people.merge(first["id"], second["id"])
        assert merged.file_count == 4 and merged.name == "Eileen Collins"
        listed = client.people.list()
        assert [p.id for p in listed.items] == [first["id"]] and listed.total_count == 1
        assert client.people.files(first["id"]).total_count == 4
    # a deleted file's face leaves its person
    httpx.delete(f"{server.base_url}/files/{ids['astronaut-solarised.jpg']}", headers=headers)
    after = httpx.get(f"{server.base_url}/people", headers=headers).json()
    assert after["items"][0]["file_count"] == 3


def test_bad_people_requests_get_clear_errors(grouping: tuple[LiveServer, str]) -> None:
    server, key = grouping
    headers = {"Authorization": f"Bearer {key}"}
    missing = "00000000-0000-4000-8000-000000000000"
    for method, path, body in (
        ("GET", f"/people/{missing}/files", None),
        ("PATCH", f"/people/{missing}", {"name": "x"}),
        ("PATCH", "/people/not-an-id", {"name": "x"}),
        ("POST", f"/people/{missing}/merge", {"person_id": missing}),
    ):
        answer = httpx.request(method, f"{server.base_url}{path}", json=body, headers=headers)
        assert answer.status_code in (404, 422), (path, answer.text)
    me = httpx.get(f"{server.base_url}/people", headers=headers).json()["items"][0]["id"]
    itself = httpx.post(
        f"{server.base_url}/people/{me}/merge", json={"person_id": me}, headers=headers
    )
    assert itself.status_code == 409 and "itself" in itself.json()["error"]["message"]
    too_long = httpx.patch(
        f"{server.base_url}/people/{missing}", json={"name": "x" * 201}, headers=headers
    )
    assert too_long.status_code == 422
    other_tenant = make_key(server.settings)  # people are per tenant
    assert (
        httpx.get(
            f"{server.base_url}/people", headers={"Authorization": f"Bearer {other_tenant}"}
        ).json()["total_count"]
        == 0
    )


@pytest.mark.parametrize("round_", range(3))
def test_two_people_merged_into_each_other_at_once(
    grouping: tuple[LiveServer, str], round_: int
) -> None:
    """A into B and B into A, sent together: one merge wins, the other is refused (not a 500,
    not a deadlock), and every face is kept, on the one person left."""
    server, _ = grouping
    key = make_key(server.settings)  # (a tenant of its own: two people)
    _upload_all(server, key, ["astronaut.jpg", "astronaut-solarised.jpg"])
    headers = {"Authorization": f"Bearer {key}"}
    first, second = (p["id"] for p in httpx.get(f"{server.base_url}/people", headers=headers)
                     .json()["items"])  # fmt: skip

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60
        ) as client:
            return list(
                await asyncio.gather(
                    client.post(f"/people/{first}/merge", json={"person_id": second}),
                    client.post(f"/people/{second}/merge", json={"person_id": first}),
                )
            )

    answers = asyncio.run(both())
    # (the other: 409 if it met the merge midway, 404 if it came after the person had gone)
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([200, 404], [200, 409]), [a.text for a in answers]
    left = httpx.get(f"{server.base_url}/people", headers=headers).json()
    assert left["total_count"] == 1
    assert left["items"][0]["face_count"] == 2 and left["items"][0]["file_count"] == 2


def test_off_by_default_no_descriptor_is_computed_or_stored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, workers=1)
    assert settings.people is False
    server = start_server(settings)
    try:
        key = make_key(settings)
        ids = _upload_all(server, key, ["astronaut.jpg"])
        headers = {"Authorization": f"Bearer {key}"}
        refused = httpx.get(f"{server.base_url}/people", headers=headers)
        assert refused.status_code == 404
        assert "SCOPIX_SERVER_PEOPLE=true" in refused.json()["error"]["message"]
        details: dict[str, Any] = httpx.get(
            f"{server.base_url}/files/{ids['astronaut.jpg']}", headers=headers
        ).json()
        assert len(details["faces"]) == 1  # (faces are still found and shown)
        assert _faces_stored(settings) == 0
    finally:
        server.stop()
