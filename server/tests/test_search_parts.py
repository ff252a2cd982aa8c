"""The parts of search by meaning: rank fusion, picture hashes, what is embedded, the in-memory
vector index against its database, and which field a lexical match came from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scopix_server.db.migrate import upgrade
from scopix_server.db.models import Chunk, Embedding, File, utcnow
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.jobs.embedding import texts_of
from scopix_server.search import MatrixIndex, fuse, ranked_chunks, ranked_files
from scopix_server.search.near import difference_hash, distance, nearest_duplicates
from scopix_server.services.tenants import get_or_create_tenant
from server_support import start_postgres

pytestmark = pytest.mark.anyio


def test_fusion_rewards_agreement_and_scores_first_everywhere_as_one() -> None:
    fused = dict(fuse([["a", "b", "c"], ["b", "a", "d"]]))
    assert fused["a"] == fused["b"] == pytest.approx((1 / 61 + 1 / 62) / (2 / 61))
    assert fused["a"] > fused["c"] > 0 and fused["c"] == fused["d"]
    assert fuse([["x"], ["x"]]) == [("x", 1.0)]
    assert fuse([[], []]) == []
    # ties keep the order of first appearance: the first list wins them
    assert [item for item, _ in fuse([["m"], ["w"]])] == ["m", "w"]
    assert [item for item, _ in fuse([["a", "a", "b"]])] == ["a", "b"]  # repeats count once


def _scene(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = (int(v) for v in rng.integers(0, 600, 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.rectangle((x, y % 440, x + 120, y % 440 + 80), fill=colour)
    return image


def test_the_picture_hash_survives_resizing_recoding_and_a_light_crop() -> None:
    original = _scene(1)
    resized = original.resize((320, 240))
    cropped = original.crop((12, 9, 628, 471))
    recoded = Image.open(_jpeg(original, quality=35))
    other = _scene(2)
    base = difference_hash(original)
    assert len(base) == 16
    for copy in (resized, cropped, recoded):
        assert distance(base, difference_hash(copy)) <= 10
    assert distance(base, difference_hash(other)) > 10
    found = nearest_duplicates(
        base, [("other", difference_hash(other)), ("small", difference_hash(resized))]
    )
    assert [ident for ident, _ in found] == ["small"]


def _jpeg(image: Image.Image, quality: int) -> object:
    import io

    stream = io.BytesIO()
    image.save(stream, "JPEG", quality=quality)
    stream.seek(0)
    return stream


def _file(**values: object) -> File:
    defaults: dict[str, object] = {
        "tenant_id": "t",
        "filename": "harbour_at-dusk.jpg",
        "media_type": "image",
        "content_type": "image/jpeg",
        "size_bytes": 1,
        "content_hash": "sha256:x",
        "object_key": "k",
        "tags": ["holiday"],
        "ai_tags": ["boats"],
    }
    return File(**(defaults | values))


def test_what_is_embedded_of_an_image_and_a_document() -> None:
    image = _file(title="Evening", description="Boats moored at a pier.", visible_text="EXIT")
    texts = texts_of(image, [])
    parts = [(t.part, t.chunk_index) for t in texts]
    assert parts == [("caption", None), ("title", None), ("text", None)]
    caption = texts[0].text
    assert texts[1].text == "Evening"  # a title given is also a vector of its own
    assert "Evening" in caption and "harbour at dusk" in caption  # the filename's words
    assert "Boats moored" in caption and "holiday, boats" in caption
    assert texts[2].text == "EXIT"
    document = _file(media_type="document", filename="q3.pdf", description="A report.")
    chunks = [Chunk(file_id="f", index=i, text=t, tenant_id="t") for i, t in enumerate(["a", " "])]
    parts = [(t.part, t.chunk_index) for t in texts_of(document, chunks)]
    assert parts == [("summary", None), ("chunk", 0)]  # (a blank chunk is not embedded)
    bare = _file(filename="", tags=[], ai_tags=[])
    assert texts_of(bare, []) == []


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], tenants: list[str]) -> None:
        self.sessions = sessions
        self.tenants = tenants

    async def file(self, tenant: str, vectors: dict[str, list[float]], **values: object) -> str:
        async with self.sessions() as session:
            row = _file(tenant_id=tenant, **values)
            session.add(row)
            await session.flush()
            for part, vector in vectors.items():
                unit = np.array(vector, dtype="<f4")
                session.add(
                    Embedding(
                        tenant_id=tenant,
                        file_id=row.id,
                        part=part,
                        model="m1",
                        dimension=len(vector),
                        vector=(unit / np.linalg.norm(unit)).astype("<f4").tobytes(),
                    )
                )
            await session.commit()
            return row.id

    async def nearest(self, index: MatrixIndex, tenant: str, query: list[float], **kw: object):  # type: ignore[no-untyped-def]
        async with self.sessions() as session:
            options: dict[str, object] = {
                "model": "m1",
                "parts": ("caption", "text"),
                "limit": 10,
                "min_similarity": 0.0,
            } | kw
            return await index.nearest(
                session,
                tenant_id=tenant,
                query=np.array(query, dtype=np.float32) / np.linalg.norm(query),
                **options,  # type: ignore[arg-type]
            )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await upgrade(engine)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        tenants = [
            (await get_or_create_tenant(session, name, tier=None, default_tier="custom")).id
            for name in ("one", "two")
        ]
        await session.commit()
    yield Store(sessions, tenants)
    await engine.dispose()


async def test_the_matrix_index_follows_its_database(store: Store) -> None:
    one, two = store.tenants
    index = MatrixIndex()
    near = await store.file(one, {"caption": [1, 0, 0], "text": [0.9, 0.1, 0]})
    far = await store.file(one, {"caption": [0, 1, 0]})
    theirs = await store.file(two, {"caption": [1, 0, 0]})
    hits = await store.nearest(index, one, [1, 0, 0])
    assert [hit.file_id for hit in hits] == [near, near, far]  # never the other tenant's
    assert hits[0].part == "caption" and hits[0].similarity == pytest.approx(1.0)
    per_file = await store.nearest(index, one, [1, 0, 0], per_file=True)
    assert [hit.file_id for hit in per_file] == [near, far]
    assert await store.nearest(index, one, [1, 0, 0], min_similarity=0.5, per_file=True) == [
        per_file[0]
    ]
    assert [h.file_id for h in await store.nearest(index, two, [1, 0, 0])] == [theirs]
    assert await store.nearest(index, one, [1, 0, 0], model="m2") == []  # another model
    assert await store.nearest(index, one, [1, 0], per_file=True) == []  # another dimension
    # rows added later are found; deleted files and their rows are not
    later = await store.file(one, {"caption": [0.95, 0.05, 0]})
    async with store.sessions() as session:
        (await session.get(File, near)).deleted_at = utcnow()  # type: ignore[union-attr]
        await session.execute(delete(Embedding).where(Embedding.file_id == far))
        await session.commit()
    hits = await store.nearest(index, one, [1, 0, 0], per_file=True)
    assert [hit.file_id for hit in hits] == [later]
    matrix = index._models["m1"]
    forgotten = sum(int((block.tenants == -1).sum()) for block in matrix.blocks)
    assert forgotten == 1  # the deleted row left memory; the soft-deleted file's rows wait
    # filters run in the database
    only = await store.nearest(index, one, [1, 0, 0], where=[File.id == later])
    assert [hit.file_id for hit in only] == [later]


async def test_a_lexical_match_says_which_field_matched(store: Store) -> None:
    one, _ = store.tenants
    in_text = await store.file(one, {}, visible_text="Parking permit required", ai_tags=[])
    in_title = await store.file(one, {}, title="Permit office", ai_tags=[])
    async with store.sessions() as session:
        found = await ranked_files(session, "permit", where=[File.tenant_id == one], limit=10)
    matched = {match.file_id: match.matched for match in found}
    assert matched == {in_text: "text", in_title: "description"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('share') / 'share.db'}"
        return
    postgres = start_postgres()
    try:
        yield postgres.url
    finally:
        postgres.stop()


async def test_a_ranked_match_can_be_asked_to_hold_a_share_of_the_words(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            tenant = await get_or_create_tenant(session, "share", tier=None, default_tier="custom")
            plain = {"tenant_id": tenant.id, "filename": "x.jpg", "tags": [], "ai_tags": []}
            most = _file(**plain, title="Harbour at sunset", visible_text="BOATS FOR HIRE")
            one = _file(**plain, title="Harbour market")
            none = _file(**plain, title="Castle tower")
            document = _file(**(plain | {"filename": "notes.txt"}), media_type="document")
            session.add_all([most, one, none, document])
            await session.flush()
            session.add_all(
                Chunk(tenant_id=tenant.id, file_id=document.id, index=i, text=text)
                for i, text in enumerate(
                    ["The harbour festival at sunset.", "Boat hire by the harbour.", "Taxes."]
                )
            )
            await session.commit()
            where = [File.tenant_id == tenant.id]
            query = "harbour sunset boat festival"  # ("boat" also finds "boats")
            every = await ranked_files(session, query, where=where, limit=10)
            assert {m.file_id for m in every} == {most.id, one.id}
            half = await ranked_files(session, query, where=where, limit=10, min_share=0.5)
            assert [m.file_id for m in half] == [most.id]
            assert await ranked_files(session, query, where=where, limit=10, min_share=1.0) == []
            # one word is always enough alone: a share of one word is no filter
            alone = await ranked_files(session, "market", where=where, limit=10, min_share=0.5)
            assert [m.file_id for m in alone] == [one.id]
            passages = await ranked_chunks(session, query, where=where, limit=10, min_share=0.5)
            assert [m.chunk_index for m in passages] == [0, 1]  # three words, then two
            strict = await ranked_chunks(session, query, where=where, limit=10, min_share=0.75)
            assert [m.chunk_index for m in strict] == [0]
    finally:
        await engine.dispose()
