"""Links and names a client hands to other people: signed URLs die with their file, tokens decode
strictly, links never follow the request's Host header, and names show what they store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scopix_server import Settings
from scopix_server.storage.signing import Signer, load_or_create_secret
from server_support import LiveServer, make_key, png_bytes, start_server

pytestmark = pytest.mark.socket


@pytest.fixture
def api(live: LiveServer, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def _upload(api: httpx.Client, name: str = "p.png", **fields: str) -> dict[str, str]:
    answer = api.post("/files/upload", files={"file": (name, png_bytes(5, 3))}, data=fields)
    assert answer.status_code == 201, answer.text
    body: dict[str, str] = answer.json()
    return body


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_a_signed_link_stops_working_when_its_file_is_deleted(api: httpx.Client) -> None:
    file_id = _upload(api)["image_id"]
    url = api.get(f"/files/{file_id}").json()["original_url"]
    with httpx.Client() as anonymous:
        assert anonymous.get(url).status_code == 200
        assert api.delete(f"/files/{file_id}").status_code == 200
        gone = anonymous.get(url)
    assert gone.status_code == 404
    assert "expired" in gone.json()["error"]["message"]


def test_a_link_for_one_file_does_not_open_another_files_bytes(
    live: LiveServer, api: httpx.Client
) -> None:
    first, second = _upload(api), _upload(api, skip_duplicates="false")
    signer = Signer(load_or_create_secret(live.settings.data_dir / "signing.key"))
    other = api.get(f"/files/{second['image_id']}").json()
    # a token naming the first file but the second's variant key: refused
    token = signer.token_for("derived/x/y/z", "", "image/png", 60, file_id=first["image_id"])
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{live.base_url}/storage/objects/{token}").status_code == 404
        assert anonymous.get(other["original_url"]).status_code == 200


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace(".", "..", 1),  # an extra separator
        lambda t: t + "=",  # padding
        lambda t: t + "==",
        lambda t: t[:5] + "!" + t[5:],  # a character outside the alphabet
        lambda t: t[:5] + "%0A" + t[5:],  # (a newline, percent-encoded in the path)
        lambda t: t[:5] + "%20" + t[5:],
        lambda t: t.replace("-", "+").replace("_", "/"),  # the other base64 alphabet
    ],
)
def test_tokens_decode_strictly(live: LiveServer, api: httpx.Client, damage: object) -> None:
    file_id = _upload(api)["image_id"]
    url = api.get(f"/files/{file_id}").json()["original_url"]
    token = url.rsplit("/", 1)[1]
    assert callable(damage)
    bad = damage(token)
    if bad == token:  # (the alphabet swap changes nothing in a token without - or _)
        bad = token + "A"
    with httpx.Client() as anonymous:
        assert anonymous.get(url).status_code == 200
        refused = anonymous.get(f"{live.base_url}/storage/objects/{bad}")
    assert refused.status_code == 404


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_links_ignore_the_host_header(live: LiveServer, api: httpx.Client) -> None:
    file_id = _upload(api)["image_id"]
    details = api.get(f"/files/{file_id}", headers={"Host": "evil.example"}).json()
    assert details["original_url"].startswith(live.root_url + "/api/v2/storage/objects/")
    started = api.post(
        "/files/direct-uploads",
        json={"filename": "big.bin", "size_bytes": 1000},
        headers={"Host": "evil.example:8443", "X-Forwarded-Host": "evil.example"},
    ).json()
    assert started["upload_url"].startswith(live.root_url + "/api/v2/storage/uploads/")
    redirect = api.get(f"/files/{file_id}/variants/original", headers={"Host": "evil.example"})
    assert "evil" not in redirect.headers["location"]


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_links_use_the_configured_public_url(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("public"),
        workers=0,
        public_url="https://photos.example.org/",
    )
    server = start_server(settings)
    try:
        key = make_key(settings)
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as api:
            file_id = _upload(api)["image_id"]
            url = api.get(f"/files/{file_id}").json()["original_url"]
    finally:
        server.stop()
    assert url.startswith("https://photos.example.org/api/v2/storage/objects/")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override
        ("a\u200bb\u200cc\u200dd\u2060e\ufefff.png", "abcdef.png"),  # zero-width characters
        ("\u2066report\u2069.pdf", "report.pdf"),  # bidi isolates
        ("soft\u00adhyphen.png", "softhyphen.png"),
        ("line\u2028break.png", "linebreak.png"),
        ("wide\u3000space.png", "wide space.png"),
        ("e\u0301.png", "\u00e9.png"),  # NFC
    ],
)
def test_filenames_keep_only_what_is_visible(api: httpx.Client, sent: str, shown: str) -> None:
    made = _upload(api, name=sent)
    assert made["filename"] == shown
    assert api.get(f"/files/{made['image_id']}").json()["filename"] == shown


def test_titles_and_tags_lose_invisible_characters_too(api: httpx.Client) -> None:
    made = _upload(api, title="Holiday\u202e gnp", tags="sea\u200b,\u2066sun\u2069")
    details = api.get(f"/files/{made['image_id']}").json()
    assert details["title"] == "Holiday gnp"
    assert details["tags"] == ["sea", "sun"]
    changed = api.patch(
        f"/files/{made['image_id']}", json={"title": "\u200bNew\u202a", "tags": ["a\u200db"]}
    ).json()
    assert changed["title"] == "New" and changed["tags"] == ["ab"]
