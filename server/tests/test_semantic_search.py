"""Search by meaning, end to end: the real SDK against the real server (MiniLM, the default
embedder) over a socket, on SQLite and on PostgreSQL with pgvector."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image, ImageDraw

from media_support import encode, text_image
from scopix import ClientConfig, Scopix, ValidationError
from scopix_server import Settings
from server_support import LiveServer, make_key, start_postgres, start_server, wait_until_terminal

pytestmark = pytest.mark.anyio

DOCUMENTS = {
    "pets.txt": "Our cat spends the whole afternoon asleep on the sofa, curled up in the sun. "
    "Young cats like a warm blanket and a quiet corner to nap in.",
    "taxes.txt": "The quarterly VAT return must be filed before the end of the month. A late "
    "filing is charged a penalty and interest by the revenue office.",
    "sailing.md": "# Crossing\nThe yacht left the harbour at dawn and crossed the bay under "
    "a stiff breeze, reaching the island before noon.",
    "pancakes.md": "# Pancakes\nWhisk flour, eggs and milk into a batter, then fry it in "
    "butter until golden brown on both sides.",
    "garden.txt": "Prune the roses in late winter and mulch the beds with compost so the "
    "soil keeps its moisture through the summer.",
    "server.txt": "Restart the database service after changing its configuration file, then "
    "check the log for errors before reopening the firewall port.",
}
# (query, the file it must find): paraphrases that share no word of substance with the file
PARAPHRASES = [
    ("a kitten dozing on the couch", "pets.txt"),
    ("fine for paying tax after the deadline", "taxes.txt"),
    ("boat trip across the sea", "sailing.md"),
    ("how to cook breakfast", "pancakes.md"),
    ("looking after flowers and plants", "garden.txt"),
]
SIGNS = {
    "bakery.png": ["FRESH BREAD", "BAKED DAILY"],
    "parking.png": ["NO PARKING", "TOW AWAY ZONE"],
}
_COMMON = {"a", "the", "for", "on", "how", "to", "and", "across", "after"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _COMMON}


@dataclass
class Library:
    live: LiveServer
    key: str
    other_key: str
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None) -> Scopix:
        return Scopix.from_config(
            ClientConfig(api_key=key or self.key, base_url=self.live.base_url)
        )


async def _fill(library: Library) -> None:
    async with library.client() as client:
        for name, text in DOCUMENTS.items():
            stored = await client.files.upload(text.encode(), filename=name)
            library.ids[name] = stored.image_id
        for name, lines in SIGNS.items():
            image, _ = text_image([(line, 80, 120 + 220 * n) for n, line in enumerate(lines)])
            stored = await client.files.upload(encode(image, "PNG"), filename=name)
            library.ids[name] = stored.image_id
        scene = _scene(5)
        copies = {
            "scene.png": encode(scene, "PNG"),
            "scene-small.jpg": encode(scene.resize((400, 300)), "JPEG", quality=40),
            "other-scene.png": encode(_scene(6), "PNG"),
        }
        for name, data in copies.items():
            library.ids[name] = (await client.files.upload(data, filename=name)).image_id
        statuses = await asyncio.gather(
            *(wait_until_terminal(client, file_id, 180) for file_id in library.ids.values())
        )
    for status in statuses:
        assert status["embedding_status"] == "completed", status


def _scene(seed: int) -> Image.Image:
    """A picture of coloured blocks, different for each seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (800, 600), (rng.randrange(256), rng.randrange(256), 90))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y = rng.randrange(700), rng.randrange(520)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(60, 200), y + rng.randrange(40, 160)), fill=colour)
    return image


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def library(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Library]:
    postgres = start_postgres() if request.param == "postgres" else None
    options: dict[str, Any] = {"database_url": postgres.url} if postgres else {}
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"semantic-{request.param}"), workers=2, **options
    )
    live = start_server(settings)
    try:
        found = Library(live, make_key(settings, "searcher"), make_key(settings, "stranger"))
        asyncio.run(_fill(found))
        yield found
    finally:
        live.stop()
        if postgres is not None:
            postgres.stop()


def test_the_paraphrases_share_no_word_with_their_targets() -> None:
    for query, target in PARAPHRASES:  # (nor the start of one: lexical search matches those)
        shared = {q for q in _words(query) for w in _words(DOCUMENTS[target]) if w.startswith(q)}
        assert shared == set(), (query, target)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
async def test_paraphrases_find_their_documents_first(library: Library, mode: str) -> None:
    async with library.client() as client:
        for query, target in PARAPHRASES:
            found = await client.agent_search.documents(query, limit=3, mode=mode)
            assert found.search_mode == mode
            assert found.results, (query, mode)
            best = found.results[0]
            assert best.document_id == library.ids[target], (query, found.results)
            assert best.document_filename == target and best.page_numbers == [1]
            assert best.text in DOCUMENTS[target]
            assert 0 < best.score <= 1


async def test_words_alone_miss_what_meaning_finds(library: Library) -> None:
    async with library.client() as client:
        lexical = await client.agent_search.documents(
            "a kitten dozing on the couch", mode="lexical"
        )
        assert library.ids["pets.txt"] not in lexical.document_ids
        exact = await client.agent_search.documents("quarterly VAT", mode="lexical")
        assert exact.document_ids == [library.ids["taxes.txt"]]


async def test_images_are_found_by_the_meaning_of_their_sign(library: Library) -> None:
    async with library.client() as client:
        found = await client.agent_search.images("a shop that sells loaves", limit=5)
        assert found.results and found.results[0].image_id == library.ids["bakery.png"]
        assert found.results[0].matched in ("text", "description")  # (the caption quotes it)
        assert found.results[0].thumbnail_url
        # documents are not images
        assert not set(found.result_ids) & {library.ids[name] for name in DOCUMENTS}
        only = await client.agent_search.images(
            "a shop that sells loaves", image_ids=[library.ids["parking.png"]]
        )
        assert library.ids["bakery.png"] not in only.result_ids


async def test_another_tenant_never_sees_the_hits(library: Library) -> None:
    async with library.client(library.other_key) as client:
        images = await client.agent_search.images("fresh bread", mode="lexical")
        documents = await client.agent_search.documents("a kitten dozing on the couch")
        listed = await client.request(
            "GET", "/files", params={"search": "kitten nap", "search_mode": "hybrid"}
        )
    assert images.results == [] and documents.results == []
    assert listed.json()["items"] == []


async def test_the_list_ranks_by_meaning_in_hybrid_mode(library: Library) -> None:
    async with library.client() as client:
        response = await client.request(
            "GET", "/files", params={"search": "boat trip across the sea", "search_mode": "hybrid"}
        )
        page = response.json()
        assert page["items"][0]["id"] == library.ids["sailing.md"]
        assert page["total_count"] >= 1
        semantic = await client.request(
            "GET",
            "/files",
            params={"search": "boat trip", "search_mode": "semantic", "media_types": "image"},
        )
        assert library.ids["sailing.md"] not in {i["id"] for i in semantic.json()["items"]}


async def test_a_ranked_list_pages_on(library: Library) -> None:
    """Page by page, a ranked list gives every file it ranks once, and says when there are
    more (``has_more``) rather than stopping at the first page."""
    params = {"search": "the", "search_mode": "hybrid", "limit": 1}
    seen: list[str] = []
    async with library.client() as client:
        whole = (await client.request("GET", "/files", params={**params, "limit": 100})).json()
        assert len(whole["items"]) >= 3 and not whole["has_more"]
        assert whole["total_count"] == len(whole["items"])
        while True:
            page = (
                await client.request("GET", "/files", params={**params, "offset": len(seen)})
            ).json()
            seen += [item["id"] for item in page["items"]]
            if not page["has_more"]:
                break
            assert page["total_count"] > len(seen)
    assert seen == [item["id"] for item in whole["items"]]


async def test_a_new_title_is_searched_by_its_meaning(library: Library) -> None:
    async with library.client() as client:
        file_id = library.ids["server.txt"]
        before = await client.agent_search.images("invoice for repairing the roof", mode="semantic")
        await client.files.update(file_id, title="Invoice for mending the roof")
        status = await wait_until_terminal(client, file_id)
        assert status["embedding_status"] == "completed"
        found = await client.files.list(
            search="bill for fixing the house top", search_mode="hybrid"
        )
        assert found.items and found.items[0].id == file_id
        assert before.results == [] or before.results[0].image_id != file_id


async def test_deleted_files_vanish_from_the_results(library: Library) -> None:
    async with library.client() as client:
        stored = await client.files.upload(
            b"Volcanoes erupt molten lava and ash.", filename="v.txt"
        )
        await wait_until_terminal(client, stored.image_id)
        found = await client.agent_search.documents("a mountain spewing fire", limit=3)
        assert found.document_ids[:1] == [stored.image_id]
        await client.files.delete(stored.image_id)
        after = await client.agent_search.documents("a mountain spewing fire", limit=3)
        assert stored.image_id not in after.document_ids
        similar = await client.files.similar(library.ids["pets.txt"], limit=20)
        assert stored.image_id not in {item.id for item in similar.items}


async def test_bad_queries_are_refused_with_a_clear_error(library: Library) -> None:
    async with library.client() as client:
        for body in (
            {"query": ""},
            {"query": "x" * 2001},
            {"query": "cat", "limit": 0},
            {"query": "cat", "mode": "psychic"},
            {"query": "cat", "image_ids": ["not-a-uuid"]},
        ):
            with pytest.raises(ValidationError):
                await client.request("POST", "/agents/search/images", json=body)
        with pytest.raises(ValueError, match="limit"):
            await client.agent_search.documents("cat", limit=501)


async def test_similar_flags_the_resized_copy_as_a_near_duplicate(library: Library) -> None:
    async with library.client() as client:
        similar = await client.files.similar(library.ids["scene.png"], limit=5)
        other = await client.files.similar(library.ids["pets.txt"], limit=5)
    assert similar.file_id == library.ids["scene.png"]
    assert [item.id for item in similar.near_duplicates] == [library.ids["scene-small.jpg"]]
    first = similar.items[0]
    assert first.near_duplicate and first.hash_distance is not None and first.hash_distance <= 10
    assert library.ids["other-scene.png"] not in {i.id for i in similar.near_duplicates}
    assert library.ids["scene.png"] not in {item.id for item in similar.items}  # not itself
    assert other.near_duplicates == []  # a document has no picture hash
    assert all(0 <= item.score <= 1 for item in similar.items + other.items)
