"""The ``embed`` step: a file's texts turned into vectors for search by meaning.

What is embedded, one vector each:
- an image: its ``caption`` (title, words of the filename, description, tags, key elements) and
  its visible ``text``;
- a document: its ``summary`` (title, filename, description) and every ``chunk``;
- any other file: its caption;
- and a file someone gave a title: that ``title`` alone as well.

The step runs after the pipeline (and again after a change of title or tags, or of the model).
It writes the vectors and the file's ``embedding_status`` in one transaction, under the file
row's lock, and only if the file is unchanged since it was read: a change made meanwhile makes
it embed again, so a slow job never overwrites newer vectors with older ones.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

import anyio.to_thread
import numpy as np
from PIL import Image
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import Chunk, Embedding, File, utcnow
from ..providers.embedding import Embedder, Vectors
from ..search.near import difference_hash
from ..search.visual import VISUAL_MODEL
from ..storage import StorageBackend

__all__ = ["EmbedStep", "Text", "texts_of"]

logger = logging.getLogger("scopix_server.pipeline")

BATCH = 16  # texts per call: a search waiting for the model waits behind one batch at most
TEXT_CHARS = 4_000  # of an image's visible text (the models read about 250 words anyway)
MAX_ROUNDS = 3  # embeddings of a file that changed meanwhile, before giving up for now
_SEPARATORS = re.compile(r"[_\-.]+")


@dataclass(frozen=True)
class Text:
    part: str  # caption | text | summary | chunk | title
    chunk_index: int | None
    text: str


def _filename_words(filename: str) -> str:
    """``harbour_at-dusk.jpg`` -> ``harbour at dusk`` (camera names like IMG_2041 stay noise
    the model ignores)."""
    return " ".join(_SEPARATORS.sub(" ", PurePath(filename).stem).split())


def _sentences(*pieces: str | None) -> str:
    return "\n".join(piece.strip() for piece in pieces if piece and piece.strip())


def texts_of(row: File, chunks: list[Chunk]) -> list[Text]:
    """What is embedded of ``row`` (see the module's docstring)."""
    tags = list(dict.fromkeys([*(row.tags or []), *(row.ai_tags or [])]))
    labels = ", ".join(str(t) for t in tags)
    elements = ", ".join(str(e) for e in row.key_elements or [])
    # a title someone gave the file is also a vector of its own: mixed into a caption or a
    # summary that quotes the text, a few words of it weigh too little to be found by
    title = (row.title or "").strip()
    titled = [Text("title", None, title)] if title else []
    if row.media_type == "document":
        summary = _sentences(row.title, _filename_words(row.filename), row.description, labels)
        found = [Text("summary", None, summary)] if summary else []
        found += titled
        found += [Text("chunk", c.index, c.text) for c in chunks if c.text.strip()]
        return found
    caption = _sentences(
        row.title, _filename_words(row.filename), row.description, labels, elements
    )
    found = [Text("caption", None, caption)] if caption else []
    found += titled
    if row.media_type == "image" and (row.visible_text or "").strip():
        found.append(Text("text", None, (row.visible_text or "")[:TEXT_CHARS]))
    return found


class EmbedStep:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: StorageBackend,
        embedder: Embedder,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._embedder = embedder

    async def _read(self, session: AsyncSession, file_id: str) -> tuple[File, list[Text]] | None:
        row = await session.scalar(
            select(File).where(File.id == file_id, File.deleted_at.is_(None))
        )
        if row is None:
            return None
        chunks: list[Chunk] = []
        if row.media_type == "document":
            chunks = list(
                await session.scalars(
                    select(Chunk).where(Chunk.file_id == file_id).order_by(Chunk.index)
                )
            )
        return row, texts_of(row, chunks)

    async def run(self, file_id: str) -> None:
        """Embed the file ``file_id`` (nothing if it was deleted); ``StepError`` on failure.

        (Its status stays ``queued`` until the vectors are written: marking it ``processing``
        first would cost a transaction per file, a fifth of the step's time on SQLite.)
        """
        for _round in range(MAX_ROUNDS):
            async with self._sessions() as session:
                read = await self._read(session, file_id)
            if read is None:
                return
            row, texts = read
            picture_hash = await self._picture_hash(row)
            vectors = await self._embed([t.text for t in texts]) if texts else None
            if await self._write(row, texts, vectors, picture_hash):
                return
        # Whatever kept changing the file queued its own embed job (a change of title or tags,
        # the end of a pipeline run): that job indexes the file as it ends up.
        logger.info("file %s kept changing while it was indexed; a later job indexes it", file_id)

    async def failed(self, file_id: str, error: str) -> None:
        """Record that embedding ``file_id`` failed for good."""
        async with self._sessions() as session:
            await session.execute(
                update(File)
                .where(File.id == file_id)
                .values(embedding_status="failed", embedding_error=error, updated_at=utcnow())
            )
            await session.commit()

    async def _embed(self, texts: list[str]) -> Vectors:
        batches = [
            await self._embedder.embed(texts[start : start + BATCH])
            for start in range(0, len(texts), BATCH)
        ]
        return np.concatenate(batches)

    async def _picture_hash(self, row: File) -> str | None:
        """The difference hash of an image, from its thumbnail (made by us, small)."""
        thumbnail = (row.variants or {}).get("small_256")
        if row.media_type != "image" or not thumbnail or row.perceptual_hash:
            return row.perceptual_hash
        try:
            async with self._storage.local_copy(thumbnail) as path:
                return await anyio.to_thread.run_sync(_hash_file, path)
        except (OSError, ValueError) as error:  # no hash: the file is still found by meaning
            logger.warning("no picture hash for file %s: %s", row.id, error)
            return None

    async def _write(
        self, row: File, texts: list[Text], vectors: Vectors | None, picture_hash: str | None
    ) -> bool:
        """Store the vectors if the file is as it was read; False if it changed meanwhile.

        Every change of what is embedded (title, tags, description, text, chunks) moves
        ``updated_at``, so one conditional update both checks that and takes the row's lock
        (on PostgreSQL two writers of one file queue there) before the vectors are replaced.
        """
        model = self._embedder.model
        async with self._sessions() as session:
            # (on the connection: the session's ORM bulk paths cost a tenth of the step)
            connection = await session.connection()
            done = await connection.execute(
                update(File)
                .where(
                    File.id == row.id,
                    File.deleted_at.is_(None),
                    File.updated_at == row.updated_at,
                )
                .values(
                    embedding_status="completed" if texts else "skipped",
                    embedding_model=model,  # (also when there was nothing to embed)
                    embedding_error=None,
                    perceptual_hash=picture_hash,
                    # (updated_at stays: it marks changes of what is embedded, and two jobs
                    # indexing the same file must not take each other for such a change)
                )
            )
            if done.rowcount != 1:
                await session.rollback()
                live = await session.scalar(
                    select(File.id).where(File.id == row.id, File.deleted_at.is_(None))
                )
                return live is None  # deleted: nothing to keep; changed: embed it again
            await connection.execute(  # (the picture's visual vector is processing's)
                delete(Embedding).where(
                    Embedding.file_id == row.id, Embedding.model != VISUAL_MODEL
                )
            )
            if vectors is not None:
                matrix = np.asarray(vectors, dtype="<f4")
                now = utcnow()
                await connection.execute(
                    insert(Embedding),
                    [
                        {
                            "tenant_id": row.tenant_id,
                            "file_id": row.id,
                            "part": item.part,
                            "chunk_index": item.chunk_index,
                            "model": model,
                            "dimension": int(matrix.shape[1]),
                            "vector": matrix[number].tobytes(),
                            "created_at": now,
                        }
                        for number, item in enumerate(texts)
                    ],
                )
            await session.commit()
        return True


def _hash_file(path: Path) -> str:
    with Image.open(path) as image:
        image.draft("L", (64, 64))
        return difference_hash(image)
