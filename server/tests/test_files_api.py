"""The files API: list filters, sorting and paging, change, soft delete, variants, signed URLs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scopix_server.api.ranges import RangeNotSatisfiable, byte_range
from server_support import (
    GIF_1X1,
    LiveServer,
    make_key,
    png_bytes,
    serving,
    wait_until_terminal_sync,
)


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(live.settings)
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def upload(api: httpx.Client, name: str, data: bytes, **fields: str) -> dict:
    response = api.post("/files/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def library(api: httpx.Client) -> dict[str, dict]:
    files = {
        "cat": upload(api, "cat.png", png_bytes(3, 3, (1, 1, 1)), title="Cat", tags="pet,cute"),
        "dog": upload(api, "dog.png", png_bytes(5, 5, (2, 2, 2)), title="Dog", tags="pet"),
        "doc": upload(api, "notes_100%.txt", b"meeting notes", title="Notes", tags="work"),
        "gif": upload(api, "dot.gif", GIF_1X1, auto_describe="false"),
    }
    return files


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_newest_first_with_paging(api: httpx.Client, library: dict[str, dict]) -> None:
    newest_first = [library[k]["image_id"] for k in ("gif", "doc", "dog", "cat")]
    assert ids(api.get("/files")) == newest_first
    page = api.get("/files", params={"limit": 2, "offset": 1}).json()
    assert [i["id"] for i in page["items"]] == newest_first[1:3]
    assert (page["total_count"], page["has_more"], page["limit"], page["offset"]) == (4, True, 2, 1)
    last = api.get("/files", params={"limit": 2, "offset": 2}).json()
    assert last["has_more"] is False


def test_filters(api: httpx.Client, library: dict[str, dict]) -> None:
    cat, dog, doc = (library[k]["image_id"] for k in ("cat", "dog", "doc"))
    assert set(ids(api.get("/files", params={"tags": "pet"}))) == {cat, dog}
    assert ids(api.get("/files", params=[("tags", "pet"), ("tags", "cute")])) == [cat]
    assert ids(api.get("/files", params={"tags": "pet,cute"})) == [cat]
    assert ids(api.get("/files", params={"media_types": "document"})) == [doc]
    assert ids(api.get("/files", params={"search": "DOG"})) == [dog]
    assert ids(api.get("/files", params={"search": "100%"})) == [doc]  # % is literal
    assert ids(api.get("/files", params={"search": "_"})) == [doc]  # so is _ (not "any")
    assert ids(api.get("/files", params={"ids": f"{cat},{doc}", "sort_order": "asc"})) == [cat, doc]
    assert ids(api.get("/files", params={"has_description": "true"})) == []
    assert len(ids(api.get("/files", params={"has_description": "false"}))) == 4


def test_status_filter_while_nothing_has_been_processed(
    api: httpx.Client, library: dict[str, dict]
) -> None:
    everything = {item["image_id"] for item in library.values()}
    assert set(ids(api.get("/files", params={"status": "processing"}))) == everything
    assert ids(api.get("/files", params={"status": "completed,failed"})) == []
    listed = api.get("/files").json()["items"]
    assert {(item["status"], item["is_terminal"]) for item in listed} == {("processing", False)}


def test_status_filter_follows_processing_to_its_end(tmp_path: Path) -> None:
    """``status`` is the file's processing as a whole (as the console's badges show it)."""
    with serving(tmp_path, ocr_enabled=False, vision_enabled=False, embedder="none") as live:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            good = upload(api, "good.png", png_bytes(8, 8, (9, 9, 9)))["image_id"]
            # PNG by its magic bytes, but nothing after them decodes
            broken = upload(api, "broken.png", png_bytes(8, 8)[:16] + b"\0" * 64)["image_id"]
            for file_id in (good, broken):
                wait_until_terminal_sync(api, file_id)
            assert ids(api.get("/files", params={"status": "completed"})) == [good]
            assert ids(api.get("/files", params={"status": "failed"})) == [broken]
            both = ids(api.get("/files", params={"status": " failed , completed "}))
            assert set(both) == {good, broken}
            assert ids(api.get("/files", params={"status": "processing"})) == []
            listed = {item["id"]: item for item in api.get("/files").json()["items"]}
            assert listed[good]["blur_hash"] and listed[good]["is_terminal"] is True
            assert listed[broken]["status"] == "failed"


def test_tenant_overview(live: LiveServer) -> None:
    key = make_key(live.settings, f"overview-{uuid.uuid4().hex[:8]}", tier="starter")
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        empty = api.get("/tenant").json()
        assert empty["subscription_tier"] == "starter"
        assert empty["limits"] == {
            "requests_per_minute": 30,
            "concurrent_uploads": 20,
            "max_batch_size": 50,
            "monthly_uploads": 500,
            "monthly_chat_messages": 1000,
        }
        assert empty["usage"]["files"] == 0 and empty["usage"]["bytes_stored"] == 0
        first = upload(api, "a.png", png_bytes(3, 3, (7, 1, 1)))
        second = upload(api, "b.txt", b"twelve bytes")
        usage = api.get("/tenant").json()["usage"]
        sizes = first["size_bytes"] + second["size_bytes"]
        assert (usage["files"], usage["bytes_stored"]) == (2, sizes)
        assert usage["uploads_this_month"] == empty["usage"]["uploads_this_month"] + 2
        assert api.delete(f"/files/{first['image_id']}").status_code in (200, 204)
        after = api.get("/tenant").json()["usage"]
        # a deleted file is not stored any more, but its upload was counted this month
        assert (after["files"], after["uploads_this_month"]) == (1, usage["uploads_this_month"])
    other = make_key(live.settings)
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {other}"}) as api:
        assert api.get("/tenant").json()["usage"]["files"] == 0  # another tenant's own
    assert httpx.get(f"{live.base_url}/tenant").status_code == 401


def test_sorting(api: httpx.Client, library: dict[str, dict]) -> None:
    by_size = api.get("/files", params={"sort_by": "size_bytes", "sort_order": "asc"}).json()
    sizes = [item["size_bytes"] for item in by_size["items"]]
    assert sizes == sorted(sizes)
    by_title = ids(api.get("/files", params={"sort_by": "title", "sort_order": "asc"}))
    assert by_title[:3] == [library[k]["image_id"] for k in ("cat", "dog", "doc")]
    assert by_title[-1] == library["gif"]["image_id"]  # no title: last


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"sort_by": "colour"},
        {"sort_order": "up"},
        {"search_mode": "fuzzy"},
        {"media_types": "hologram"},
        {"ids": "not-a-uuid"},
        {"folder_id": "x"},
        {"date_from": "yesterday"},
        {"has_description": "perhaps"},
        {"status": "done"},
    ],
)
def test_bad_list_parameters_are_422(api: httpx.Client, params: dict) -> None:
    response = api.get("/files", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_too_many_ids(api: httpx.Client) -> None:
    many = ",".join(str(uuid.uuid4()) for _ in range(501))
    response = api.get("/files", params={"ids": many})
    assert response.status_code == 422 and "500" in response.json()["error"]["message"]


def test_update_title_and_tags(api: httpx.Client, library: dict[str, dict]) -> None:
    file_id = library["cat"]["image_id"]
    changed = api.patch(f"/files/{file_id}", json={"title": "Kitten", "tags": ["pet", "small"]})
    assert changed.status_code == 200
    assert changed.json()["title"] == "Kitten" and changed.json()["tags"] == ["pet", "small"]
    assert api.get(f"/files/{file_id}").json()["tags"] == ["pet", "small"]
    for bad in ({}, {"title": "x" * 256}, {"tags": ["a,b"]}, {"tags": ["x" * 51]}, {"color": 1}):
        response = api.patch(f"/files/{file_id}", json=bad)
        assert response.status_code == 422, (bad, response.text)
    response = api.patch(
        f"/files/{file_id}", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_soft_delete_hides_at_once(api: httpx.Client, library: dict[str, dict]) -> None:
    file_id = library["dog"]["image_id"]
    deleted = api.delete(f"/files/{file_id}")
    assert deleted.status_code == 200 and deleted.json()["id"] == file_id
    assert api.get(f"/files/{file_id}").status_code == 404
    assert file_id not in ids(api.get("/files"))
    assert api.delete(f"/files/{file_id}").status_code == 404


def test_batch_delete(api: httpx.Client, library: dict[str, dict]) -> None:
    cat, doc = library["cat"]["image_id"], library["doc"]["image_id"]
    api.delete(f"/files/{doc}")
    ghost = str(uuid.uuid4())
    result = api.post("/files/batch-delete", json={"file_ids": [cat, doc, ghost, "bad"]}).json()
    assert [d["id"] for d in result["deleted"]] == [cat]
    skipped = result["skipped"]
    assert [(s["id"], s["status"], s["message"]) for s in skipped] == [
        (doc, "skipped", "already deleted")
    ]
    assert {f["id"] for f in result["failed"]} == {ghost, "bad"}
    assert result["summary"] == {"total": 4, "deleted": 1, "skipped": 1, "failed": 2}
    too_many = api.post("/files/batch-delete", json={"file_ids": [ghost] * 101})
    assert too_many.status_code == 422


def test_a_tag_filter_typed_decomposed_finds_the_stored_tag(api: httpx.Client) -> None:
    tagged = upload(api, "terrace.png", png_bytes(6, 6, (9, 9, 9)), tags="café,terrace")
    assert ids(api.get("/files", params={"tags": "cafe\u0301"})) == [tagged["image_id"]]
    assert ids(api.get("/files", params={"tags": " cafe\u0301 ,terrace"})) == [tagged["image_id"]]


def test_an_upper_case_id_names_the_same_file_everywhere(
    live: LiveServer, api: httpx.Client, library: dict[str, dict]
) -> None:
    cat, dog = library["cat"]["image_id"], library["dog"]["image_id"]
    loud = cat.upper()
    assert api.get(f"/files/{loud}").json()["id"] == cat
    assert api.get(f"/files/{loud}/status").status_code == 200
    assert api.patch(f"/files/{loud}", json={"title": "Loud cat"}).json()["id"] == cat
    assert ids(api.get("/files", params={"ids": f"{loud},{dog.upper()}"})) == [dog, cat]
    removed = api.post("/files/batch-delete", json={"file_ids": [dog.upper()]}).json()
    assert [d["id"] for d in removed["deleted"]] == [dog]
    admin = make_key(live.settings, f"admin-{uuid.uuid4().hex[:8]}", admin=True)
    headers = {"Authorization": f"Bearer {admin}"}
    made = api.post("/api-keys", json={"name": "spare"}, headers=headers)
    assert made.status_code == 201, made.text
    revoked = api.delete(f"/api-keys/{made.json()['id'].upper()}", headers=headers)
    assert revoked.status_code == 200, revoked.text


@pytest.mark.embedded  # (the server's own signed links; S3's presigned ones: test_s3_storage)
def test_original_variant_is_a_signed_redirect(
    live: LiveServer, api: httpx.Client, library: dict[str, dict]
) -> None:
    file_id = library["cat"]["image_id"]
    redirect = api.get(f"/files/{file_id}/variants/original")
    assert redirect.status_code == 302
    url = redirect.headers["location"]
    with httpx.Client() as anonymous:  # no API key needed: the URL itself is the permission
        fetched = anonymous.get(url)
        assert fetched.status_code == 200 and fetched.content == png_bytes(3, 3, (1, 1, 1))
        token = url.rsplit("/", 1)[1]
        tampered = url.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        assert anonymous.get(tampered).status_code == 404
    details = api.get(f"/files/{file_id}").json()
    assert details["original_url"].startswith(live.root_url + "/api/v2/storage/objects/")
    assert api.get(f"/files/{file_id}/variants/medium_750").status_code == 404
    assert api.get(f"/files/{file_id}/variants/huge").status_code == 422


def test_expired_signed_url(live: LiveServer, api: httpx.Client, library: dict[str, dict]) -> None:
    from scopix_server.storage.signing import Signer, load_or_create_secret

    signer = Signer(load_or_create_secret(live.settings.data_dir / "signing.key"))
    details = api.get(f"/files/{library['cat']['image_id']}").json()
    file_id = details["id"]
    token = signer.token_for(details["object_key"], "", "image/png", ttl=-1, file_id=file_id)
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{live.base_url}/storage/objects/{token}").status_code == 404
    fresh = signer.token_for(details["object_key"], "", "image/png", ttl=60, file_id=file_id)
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{live.base_url}/storage/objects/{fresh}").status_code == 200


def test_status_for_documents_and_skipped_descriptions(
    api: httpx.Client, library: dict[str, dict]
) -> None:
    gif = api.get(f"/files/{library['gif']['image_id']}/status").json()
    assert gif["description_status"] == "skipped" and gif["variant_status"] == "pending"
    assert gif["is_terminal"] is False  # the variants are still to be made (no workers here)


def test_unknown_routes_and_methods_use_the_envelope(api: httpx.Client) -> None:
    missing = api.get("/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert missing.json()["request_id"] == missing.headers["X-Request-ID"]
    wrong = api.put("/files")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.embedded  # (removes the object from the storage folder)
def test_missing_bytes_are_a_clear_503(
    live: LiveServer, api: httpx.Client, library: dict[str, dict]
) -> None:
    record = library["doc"]
    (live.settings.data_dir / "storage" / "objects" / record["object_key"]).unlink()
    response = api.get(f"/files/{record['image_id']}/download")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 90)),
        ("bytes=-5", (95, 5)),
        ("bytes=-500", (0, 100)),
        ("bytes=90-1000", (90, 10)),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-9,20-29", None),  # several: the whole object
        ("items=0-9", None),
        ("bytes=9-3", None),  # invalid: ignored
        ("bytes=-", None),
        ("bytes=" + "9" * 5000 + "-", None),  # (not a number to convert: the whole object)
    ],
)
def test_byte_ranges_are_read_as_http_says(header: str | None, expected: tuple | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        byte_range(header, 100)
    assert refused.value.headers["Content-Range"] == "bytes */100"


def test_a_download_serves_the_range_it_is_asked_for(api: httpx.Client) -> None:
    """A video seeks, a download resumes: one range is a 206 of exactly those bytes, through
    the API and through the file's signed link; several ranges or If-Range get it all."""
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # (stored, not decoded: no workers)
    file_id = upload(api, "ranged.png", data)["image_id"]
    signed = api.get(f"/files/{file_id}").json()["original_url"]
    routes = [lambda headers: api.get(f"/files/{file_id}/download", headers=headers)]
    if signed.startswith(str(api.base_url).removesuffix("/api/v2/")):  # (S3's links: S3's own)
        routes.append(lambda headers: httpx.get(signed, headers=headers))  # (signed: no key)
    assert len(routes) == 2 or "X-Amz-Signature" in signed
    heads = [api.head(f"/files/{file_id}/download")]
    if len(routes) == 2:
        heads.append(httpx.head(signed))
    for head in heads:  # (what a download manager asks first: the size, and whether it can resume)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(data))
        assert head.headers["Accept-Ranges"] == "bytes"
    for get in routes:
        whole = get({})
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["Accept-Ranges"] == "bytes"
        part = get({"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert get({"Range": "bytes=-16"}).content == data[-16:]
        assert get({"Range": f"bytes={len(data) - 3}-"}).content == data[-3:]
        assert get({"Range": "bytes=0-1,5-6"}).content == data
        assert get({"Range": "bytes=0-9", "If-Range": '"an-etag"'}).content == data
        past = get({"Range": f"bytes={len(data)}-"})
        assert past.status_code == 416
        assert past.headers["Content-Range"] == f"bytes */{len(data)}"
