"""The processing pipeline: runs the steps of one job and records every outcome on the file.

A file's jobs follow each other, each queued in the transaction that ends the one before:
``process`` (decoding, variants, OCR, document text: CPU work), then, unless the upload said
``auto_describe=false``, ``describe`` (the description providers, from the stored large variant
and the facts decoding kept: no decoding there), then ``embed`` (the search vectors). On
Procrastinate each kind has its queue, so each can be given its own workers.

Blocking work on a file's bytes (decoding, variants, OCR, text extraction) runs in the work
processes (``isolation``), so the API stays responsive and a hostile file costs one child
process, never the server; the little left (reading back a stored variant) runs in threads.
A step that fails says whether a retry can help (``StepError``); the pipeline writes the error
onto the file, and answers the worker with
``retry`` (with a delay) or ``done``. Running a job again is safe: steps that completed are not
redone, and stored objects are content-addressed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import Chunk, File, utcnow
from ..processing import ImageFacts, StepError
from ..providers import DescribeInput, Description, DescriptionProvider
from ..providers.embedding import Embedder
from ..search.visual import replace_visual_vector
from ..services.people import assign_faces
from ..settings import Settings
from ..storage import StorageBackend, derived_key
from ..vision import Face, Sight
from .budget import Budget
from .embedding import EmbedStep
from .isolation import WorkProcesses
from .queue import ClaimedJob, Enqueuer
from .steps import work
from .steps.documents import DocumentLimits, chunk_pages

__all__ = ["Outcome", "Pipeline"]

logger = logging.getLogger("scopix_server.pipeline")
T = TypeVar("T")

VISIBLE_TEXT_CHARS = 100_000  # of a document's text, kept on the file for search
DESCRIBE_TEXT_CHARS = 20_000  # of a document's text, handed to the description providers
DESCRIBE_VARIANT, DESCRIBE_VARIANT_SIDE = "large_1024", 1024  # what images are described from


@dataclass(frozen=True)
class Outcome:
    retry_after: float | None = None  # seconds until the next attempt; None: the job is over
    error: str | None = None  # why it will be retried, or why the file ended failed


class Pipeline:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        storage: StorageBackend,
        settings: Settings,
        providers: list[DescriptionProvider],
        threads: anyio.CapacityLimiter,
        work: WorkProcesses,
        queue: Enqueuer,
        embedder: Embedder | None = None,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._settings = settings
        self._providers = providers
        self._threads = threads
        self._work = work
        self._queue = queue
        self._embedding = (
            None
            if embedder is None
            else EmbedStep(sessions=sessions, storage=storage, embedder=embedder)
        )

    async def _thread(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(
            functools.partial(func, *args, **kwargs), limiter=self._threads
        )

    async def _load(self, job: ClaimedJob) -> File | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(File).where(
                    File.id == job.file_id,
                    File.tenant_id == job.tenant_id,
                    File.deleted_at.is_(None),
                )
            )

    async def _save(
        self,
        row: File,
        *,
        then: str | None = None,
        priority: int = 0,
        looks: npt.NDArray[np.float32] | None = None,
        faces: list[Face] | None = None,
        **values: Any,
    ) -> None:
        """Write ``values`` to the file (and to ``row``, which the steps keep reading).

        ``then="embed"``: the file's processing is over; its next job, queued in the same
        transaction, makes its search vectors (or the step is marked skipped when no embedder
        is configured). ``looks``: the picture's visual vector, and ``faces`` its faces with their
        descriptors (people grouping), each replacing any before.
        """
        embed = then == "embed"
        if embed:
            values["embedding_status"] = "queued" if self._embedding else "skipped"
        queued = embed and self._embedding is not None
        for name, value in values.items():
            setattr(row, name, value)
        async with self._sessions() as session:
            stored = await session.get(File, row.id)
            if stored is None or stored.deleted_at is not None:
                return  # deleted meanwhile: nothing to record
            for name, value in values.items():
                setattr(stored, name, value)
            stored.updated_at = utcnow()
            if looks is not None:
                await replace_visual_vector(session, stored, looks)
            if faces is not None:
                await assign_faces(session, stored, faces)
            if queued:
                assert then is not None
                await self._queue.enqueue(
                    session,
                    tenant_id=row.tenant_id,
                    file_id=row.id,
                    kind=then,
                    priority=priority,
                )
            await session.commit()
        if queued:
            self._queue.notify()

    # --- the job ---

    async def _hand_over(self, row: File, *, priority: int) -> None:
        """The ``process`` job's end: the file's ``describe`` job is queued, once. One
        conditional update of ``handed_over_at`` decides, so that a process job run again (its
        worker died after this commit) queues no second one."""
        now = utcnow()
        async with self._sessions() as session:
            handed = await session.execute(
                update(File)
                .where(
                    File.id == row.id,
                    File.deleted_at.is_(None),
                    File.handed_over_at.is_(None),
                )
                .values(handed_over_at=now, updated_at=now)
            )
            if getattr(handed, "rowcount", 0) != 1:
                return
            await self._queue.enqueue(
                session, tenant_id=row.tenant_id, file_id=row.id, kind="describe", priority=priority
            )
            await session.commit()
        row.handed_over_at = now
        self._queue.notify()

    @staticmethod
    def _ran_already(job: ClaimedJob, row: File) -> bool:
        """A job run again after it recorded its work but not its end (its worker died in
        between): what it would do is done, and its next job queued."""
        if job.kind == "describe":
            return row.description_status in ("completed", "failed", "skipped")
        if job.kind == "process":
            return row.status in ("completed", "failed") or row.handed_over_at is not None
        return False

    async def run(self, job: ClaimedJob) -> Outcome:
        row = await self._load(job)
        if row is None:
            return Outcome()  # deleted before its turn
        if self._ran_already(job, row):
            logger.info("job %s (%s) of file %s had run: nothing to do", job.id, job.kind, row.id)
            return Outcome()
        if job.kind == "embed":
            return await self._embed(job, row)
        budget = Budget.start(self._settings.job_timeout_seconds)
        try:
            if job.attempts > job.max_attempts:  # leases ran out that often: its worker died
                raise StepError(
                    f"processing stopped {job.attempts - 1} times without finishing (the "
                    "worker crashed or was killed on this file)",
                    "unknown",
                )
            last = job.attempts >= job.max_attempts
            # Awaited work is cancelled at the deadline; work in threads checks the budget
            # itself (between pages), so the cancellation lands soon after it too.
            with anyio.move_on_after(budget.seconds) as scope:
                if job.kind == "describe":
                    await self._describe_file(row, last=last, budget=budget)
                else:
                    await self._process(row, priority=job.priority, budget=budget)
            if scope.cancelled_caught:
                raise budget.spent()
            return Outcome()
        except StepError as error:
            if error.retryable and job.attempts < job.max_attempts:
                delay = self._settings.job_retry_delay_seconds * 2 ** (job.attempts - 1)
                delay = max(delay, error.retry_after or 0.0)  # as the provider asked
                await self._record_retry(row, error)
                return Outcome(retry_after=delay, error=str(error))
            await self._record_failure(row, error)
            return Outcome(error=str(error))
        except Exception as error:
            logger.exception("job %s on file %s failed", job.id, job.file_id)
            failure = StepError(f"internal error ({type(error).__name__})", "unknown")
            await self._record_failure(row, failure)
            return Outcome(error=str(failure))

    async def _embed(self, job: ClaimedJob, row: File) -> Outcome:
        """The ``embed`` job: its failures are the search index's, never the description's."""
        if self._embedding is None:  # the embedder was turned off since it was queued
            await self._save(row, embedding_status="skipped")
            return Outcome()
        try:
            if job.attempts > job.max_attempts:
                raise StepError(
                    f"indexing stopped {job.attempts - 1} times without finishing",
                    "unknown",
                    step="embedding",
                )
            with anyio.fail_after(self._settings.job_timeout_seconds):
                await self._embedding.run(row.id)
            return Outcome()
        except TimeoutError:
            error = StepError(
                f"indexing for search took over {self._settings.job_timeout_seconds:g} s",
                "timeout",
                step="embedding",
            )
        except StepError as failed:
            error = failed
        except Exception as failed:
            logger.exception("embedding of file %s failed", row.id)
            error = StepError(f"internal error ({type(failed).__name__})", "unknown")
        if error.retryable and job.attempts < job.max_attempts:
            delay = self._settings.job_retry_delay_seconds * 2 ** (job.attempts - 1)
            await self._save(row, embedding_status="queued", embedding_error=str(error))
            return Outcome(retry_after=max(delay, error.retry_after or 0.0), error=str(error))
        await self._save(row, embedding_status="failed", embedding_error=str(error))
        return Outcome(error=str(error))

    async def _record_retry(self, row: File, error: StepError) -> None:
        await self._save(
            row,
            description_status="queued" if row.description_status != "skipped" else "skipped",
            description_error=error.message,
            description_error_type=error.error_type,
            description_is_retryable=True,
        )

    async def _record_failure(self, row: File, error: StepError) -> None:
        values: dict[str, Any] = {}
        if row.description_status not in ("completed", "skipped"):
            values.update(
                description_status="failed",
                description_error=error.message,
                description_error_type=error.error_type,
                description_is_retryable=error.retryable,
            )
        if row.variant_status not in ("completed", "skipped"):
            values["variant_status"] = "failed"
        if row.text_extraction_status not in (None, "completed"):
            values["text_extraction_status"] = "failed"
        unusable = (
            values.get("variant_status") == "failed"
            or values.get("text_extraction_status") == "failed"
        )
        values["status"] = "failed" if unusable else "completed"
        if unusable:
            values["embedding_status"] = "skipped"
        await self._save(row, then=None if unusable else "embed", **values)

    # --- processing ---

    async def _process(self, row: File, *, priority: int, budget: Budget) -> None:
        """Decoding, variants, text: the file's CPU work. A file to describe then gets its
        ``describe`` job (the provider queue), which ends its processing; the others end here.
        """
        describing = row.description_status != "skipped"
        starting: dict[str, Any] = {"status": "processing"}
        if row.media_type == "document" and row.text_extraction_status != "completed":
            starting["text_extraction_status"] = "processing"
        if row.media_type in ("image", "document") and row.variant_status != "completed":
            starting["variant_status"] = "processing"
        await self._save(row, **starting)
        if row.media_type == "image":
            await self._image(row, reading=describing)
        elif row.media_type == "document":
            if row.text_extraction_status != "completed" or not row.text_key:
                await self._extract(row, budget)
        else:  # video: stored; descriptions of sampled frames are a later capability
            await self._save(
                row,
                then="embed",
                status="completed",
                variant_status="skipped",
                description_status="skipped",
            )
            return
        if describing:
            await self._hand_over(row, priority=priority)
        else:
            await self._save(row, then="embed", status="completed")

    async def _store_variants(
        self, row: File, rendered: dict[str, bytes], placeholder: str
    ) -> dict[str, Any]:
        """Store rendered variants; returns the values to record on the file."""
        keys = {}
        for name, data in rendered.items():
            keys[name] = derived_key(row.tenant_id, row.id, f"{name}.webp")
            await self._storage.put(keys[name], data)
        return {"variants": keys, "blur_hash": placeholder, "variant_status": "completed"}

    async def _variants(self, row: File, image: Image.Image) -> dict[str, Any]:
        """Render and store the variants of ``image`` (a document's first page)."""
        rendered, placeholder = await self._work.call(work.variants, image)
        return await self._store_variants(row, rendered, placeholder)

    async def _image(
        self, row: File, *, reading: bool, describe_side: int | None = None
    ) -> tuple[ImageFacts | None, Image.Image | None]:
        """Decode the original (in a work process) for what is still missing, and record it:
        the variants and the image's facts, then with ``reading`` its text (OCR). With
        ``describe_side``, it is decoded in any case and comes back for a description, with
        its facts; else ``(None, None)``."""
        making = row.variant_status != "completed"
        seeing = reading and row.vision is None and self._settings.vision_enabled
        reading = reading and row.visible_text is None and self._settings.ocr_enabled
        if not (making or reading or seeing or describe_side):
            return None, None
        async with self._storage.local_copy(row.object_key) as path:
            # one call: the decoded image stays in the work process for the variants and OCR
            done_work = await self._work.call(
                work.image,
                path,
                self._settings.max_image_pixels,
                with_variants=making,
                with_ocr=reading,
                describe_side=describe_side,
                with_vision=seeing,
                face_descriptors=self._settings.people,
            )
        facts = done_work.facts
        done: dict[str, Any] = {"image_facts": facts.to_json()}
        if done_work.variants is not None:
            done.update(await self._store_variants(row, *done_work.variants))
            done.update(
                width=facts.width,
                height=facts.height,
                content_created_at=facts.content_created_at or row.content_created_at,
            )
        if reading and done_work.ocr is not None:
            done.update(visible_text=done_work.ocr.text, text_regions=done_work.ocr.regions)
        looks, faces = None, None
        if done_work.sight is not None:
            done.update(vision=done_work.sight.to_json(), safety_score=done_work.sight.safety)
            looks = done_work.sight.features
            if self._settings.people:
                faces = done_work.sight.faces
        elif done_work.vision_error is not None:  # described without; logged, not fatal
            logger.warning("file %s described without vision: %s", row.id, done_work.vision_error)
            # recorded, so that the description does not decode the original again to retry
            done.update(vision={"error": done_work.vision_error.message})
        # recorded even when OCR failed: a retry for the text does not make the variants again
        await self._save(row, looks=looks, faces=faces, **done)
        if reading and done_work.ocr_error is not None:
            raise done_work.ocr_error
        if not describe_side:
            return None, None
        return facts, done_work.image

    async def _extract(self, row: File, budget: Budget) -> DescribeInput:
        """Text, chunks and first-page variants of a document, recorded on the file."""
        limit = self._settings.max_document_text_bytes
        if row.size_bytes > limit:
            raise StepError(
                f"the document is {row.size_bytes:,} bytes; text is extracted up to {limit:,}",
                "resource_limit",
                step="text",
            )
        async with self._storage.local_copy(row.object_key) as path:
            limits = DocumentLimits(
                max_part_bytes=self._settings.max_container_part_bytes,
                max_pages=self._settings.max_document_pages,
                budget=budget,
            )
            document = await self._work.call(
                work.document, path, row.format or "txt", self._settings.ocr_enabled, limits
            )
        text = document.text
        chunks = chunk_pages(document.pages)
        text_key = derived_key(row.tenant_id, row.id, "text.txt")
        await self._storage.put(text_key, text.encode("utf-8"))
        extracted: dict[str, Any] = {
            "page_count": document.page_count,
            "chunk_count": len(chunks),
            "text_key": text_key,
            "text_extraction_status": "completed",
            "visible_text": text[:VISIBLE_TEXT_CHARS],
            "text_regions": document.regions,
        }
        first = document.first_page
        if row.variant_status != "completed":
            if first is None:
                extracted["variant_status"] = "skipped"
            else:
                extracted.update(await self._variants(row, first))
                extracted.update(width=first.width, height=first.height)
        async with self._sessions() as session:  # the chunks and the file change together
            await session.execute(delete(Chunk).where(Chunk.file_id == row.id))
            session.add_all(
                Chunk(
                    file_id=row.id,
                    tenant_id=row.tenant_id,
                    index=chunk["index"],
                    text=chunk["text"],
                    page_numbers=chunk["page_numbers"],
                )
                for chunk in chunks
            )
            await session.commit()
        await self._save(row, **extracted)
        return DescribeInput(
            media_type="document",
            filename=row.filename,
            content_category=row.content_category,
            image=first,
            visible_text=text[:DESCRIBE_TEXT_CHARS],
            text_regions=document.regions,
            document_format=document.format,
            page_count=document.page_count,
            document_text=text[:DESCRIBE_TEXT_CHARS],
        )

    async def _stored_document(self, row: File) -> DescribeInput:
        """What the description of a document needs, read back from storage."""
        assert row.text_key is not None
        raw = bytearray()
        async for piece in self._storage.read(row.text_key):
            raw += piece
            if len(raw) >= DESCRIBE_TEXT_CHARS * 4:  # enough for any 20,000 characters
                break
        text = raw.decode("utf-8", "ignore")[:DESCRIBE_TEXT_CHARS]
        first = None
        large = (row.variants or {}).get("large_1024")
        if large:
            async with self._storage.local_copy(large) as path:
                first = await self._thread(_open_rgb, path)
        return DescribeInput(
            media_type="document",
            filename=row.filename,
            content_category=row.content_category,
            image=first,
            visible_text=text,
            text_regions=list(row.text_regions or []),
            document_format=row.format,
            page_count=row.page_count,
            document_text=text,
        )

    async def _describe_file(self, row: File, *, last: bool, budget: Budget) -> None:
        """The ``describe`` job (after processing, or ``POST /files/{id}/describe``): the
        description from what processing stored, which ends the file's processing."""
        await self._save(row, description_status="processing")
        if row.media_type == "image":
            item = await self._image_to_describe(row)
        elif row.media_type == "document":
            if row.text_extraction_status == "completed" and row.text_key:
                item = await self._stored_document(row)
            else:  # (its text could not be read before: try again)
                item = await self._extract(row, budget)
        else:
            await self._save(row, description_status="skipped")
            return
        done = await self._describe(item, last=last)
        await self._save(row, then="embed", status="completed", **done)

    async def _image_to_describe(self, row: File) -> DescribeInput:
        """The image for the providers: the stored large variant when it is large enough
        (no decoding on the provider queue), else the original decoded again (files processed
        before their facts were kept, text still to read, a larger side asked for)."""
        side = self._settings.provider_image_side
        large = (row.variants or {}).get(DESCRIBE_VARIANT)
        facts: ImageFacts | None = None
        image: Image.Image | None = None
        if (
            row.image_facts is not None
            and large is not None
            and side <= DESCRIBE_VARIANT_SIDE
            and (row.visible_text is not None or not self._settings.ocr_enabled)
            and (row.vision is not None or not self._settings.vision_enabled)
        ):
            facts = ImageFacts.from_json(row.image_facts)
            async with self._storage.local_copy(large) as path:
                image = await self._thread(_open_rgb, path, side)
        else:
            facts, image = await self._image(row, reading=True, describe_side=side)
        return DescribeInput(
            media_type="image",
            filename=row.filename,
            content_category=row.content_category,
            image=image,
            facts=facts,
            visible_text=row.visible_text or "",
            text_regions=list(row.text_regions or []),
            sight=Sight.recorded(row.vision),
        )

    # --- descriptions ---

    async def _describe(self, item: DescribeInput, *, last: bool) -> dict[str, Any]:
        """Run every provider and return the file's description fields.

        The first model answer leads (before the basic one); tags and key elements are merged.
        A provider that failed in a way a retry may fix makes the job run again, unless this
        is its last attempt: then the description stands on the providers that answered.
        """
        results: list[Description] = []
        errors: list[StepError] = []
        for provider in self._providers:
            try:
                results.append(await provider.describe(item))
            except StepError as error:
                error.step = error.step or provider.name
                errors.append(error)
        retryable = [error for error in errors if error.retryable]
        if not results or (retryable and not last):
            raise (retryable or errors)[0]
        for failed in errors:
            logger.warning("file described without %s: %s", failed.step, failed.message)
        results.sort(key=lambda d: _LEAD.get(d.analysis_level, 0))
        lead = results[0]
        return {
            "description": lead.description,
            "ai_tags": list(dict.fromkeys(tag for d in results for tag in d.tags)),
            "key_elements": list(dict.fromkeys(e for d in results for e in d.key_elements)),
            "analysis_level": lead.analysis_level,
            "provider_count": len(results),
            "description_status": "completed",
            "description_error": None,
            "description_error_type": None,
            "description_is_retryable": None,
            "confidence_score": None,  # always null for descriptions (API.md §5)
            # said, not only logged: a configured model that failed is not silently `basic`
            "provider_errors": [
                {"provider": e.step, "error_type": e.error_type, "message": e.message}
                for e in errors
            ],
        }


# which answer leads the description: a model's, then the local analyser's, then basic's
_LEAD = {"local": 1, "basic": 2}


def _open_rgb(path: Path, side: int | None = None) -> Image.Image:
    """A stored variant as upright RGB, at most ``side`` long."""
    with Image.open(path) as image:
        rgb: Image.Image = image.convert("RGB")
    if side is not None and max(rgb.size) > side:
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    return rgb
