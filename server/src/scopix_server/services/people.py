"""Faces grouped into people, per tenant (``SCOPIX_SERVER_PEOPLE=true``).

Each face found carries dlib's 128-number descriptor. A new face joins the person of the
nearest face the tenant already has, when it is closer than ``SAME_PERSON`` (dlib's own
threshold is 0.6; a little stricter keeps strangers apart), and otherwise starts a person of
its own; two faces of one picture are never one person. A file's faces are assigned in the
transaction that records them, one file of a tenant at a time (PostgreSQL: an advisory lock
per tenant; SQLite has one writer), so two workers never start two people for one face.
People are named and merged by hand; a person whose last face goes (its files deleted) is
no longer listed.
"""

from __future__ import annotations

import zlib

import numpy as np
from sqlalchemy import ColumnElement, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import FaceRecord, File, Person
from ..errors import NotFound
from ..ids import canonical_id
from ..vision import Face

__all__ = ["SAME_PERSON", "assign_faces", "files_of", "get_person", "merge_people", "people_of"]

SAME_PERSON = 0.55


async def _lock_tenant(session: AsyncSession, tenant_id: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"people:{tenant_id}".encode())
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def assign_faces(session: AsyncSession, row: File, faces: list[Face]) -> None:
    """Record ``row``'s faces (replacing any before) and give each a person, in the caller's
    transaction."""
    await session.execute(delete(FaceRecord).where(FaceRecord.file_id == row.id))
    described = [face for face in faces if face.descriptor is not None]
    if not described:
        return
    await _lock_tenant(session, row.tenant_id)
    known = (
        await session.execute(
            select(FaceRecord.person_id, FaceRecord.descriptor).where(
                FaceRecord.tenant_id == row.tenant_id, FaceRecord.file_id != row.id
            )
        )
    ).all()
    people = [person for person, _ in known]
    matrix = (
        np.stack([np.frombuffer(d, dtype="<f4") for _, d in known])
        if known
        else np.zeros((0, 128), np.float32)
    )
    taken: set[str] = set()  # (two faces of one picture are two people)
    for face in described:
        vector = np.asarray(face.descriptor, dtype="<f4")
        person_id = None
        if len(people):
            distances = np.linalg.norm(matrix - vector, axis=1)
            for index in np.argsort(distances):
                if distances[index] >= SAME_PERSON:
                    break
                if people[int(index)] not in taken:
                    person_id = people[int(index)]
                    break
        if person_id is None:
            person = Person(tenant_id=row.tenant_id)
            session.add(person)
            await session.flush()
            person_id = person.id
        taken.add(person_id)
        session.add(
            FaceRecord(
                tenant_id=row.tenant_id,
                file_id=row.id,
                person_id=person_id,
                box=face.to_json()["bbox"],
                confidence=face.confidence,
                descriptor=vector.tobytes(),
            )
        )


def _live_faces(tenant_id: str) -> list[ColumnElement[bool]]:
    return [
        FaceRecord.tenant_id == tenant_id,
        File.id == FaceRecord.file_id,
        File.deleted_at.is_(None),
    ]


async def people_of(
    session: AsyncSession, tenant_id: str, *, limit: int, offset: int, only: str | None = None
) -> tuple[list[dict[str, object]], int]:
    """The tenant's people with at least one face in a live file, most files first (``only``:
    that one person)."""
    counts = (
        select(
            FaceRecord.person_id.label("person_id"),
            func.count(func.distinct(FaceRecord.file_id)).label("files"),
            func.count(FaceRecord.id).label("faces"),
            func.min(FaceRecord.id).label("first_face"),
        )
        .where(*_live_faces(tenant_id), *([FaceRecord.person_id == only] if only else []))
        .group_by(FaceRecord.person_id)
        .subquery()
    )
    total = await session.scalar(select(func.count()).select_from(counts)) or 0
    rows = (
        await session.execute(
            select(Person, counts.c.files, counts.c.faces, FaceRecord)
            .join(counts, counts.c.person_id == Person.id)
            .join(FaceRecord, FaceRecord.id == counts.c.first_face)
            .order_by(counts.c.files.desc(), Person.created_at, Person.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [
        {
            "id": person.id,
            "name": person.name,
            "file_count": files,
            "face_count": faces,
            "cover": {"file_id": face.file_id, "bbox": face.box},
            "created_at": person.created_at,
        }
        for person, files, faces, face in rows
    ], int(total)


async def get_person(session: AsyncSession, tenant_id: str, person_id: str) -> Person:
    stored = canonical_id(person_id)
    if stored is None:
        raise NotFound(f"no person {person_id[:60]!r}")
    person = await session.scalar(
        select(Person).where(Person.id == stored, Person.tenant_id == tenant_id)
    )
    if person is None:
        raise NotFound(f"no person {person_id!r} (GET /people lists them)")
    return person


def files_of(tenant_id: str, person_id: str) -> ColumnElement[bool]:
    """The condition on files: a live file with a face of this person."""
    return File.id.in_(
        select(FaceRecord.file_id).where(
            FaceRecord.tenant_id == tenant_id, FaceRecord.person_id == person_id
        )
    )


async def merge_people(
    session: AsyncSession, tenant_id: str, keep_id: str, other_id: str, other_name: str | None
) -> bool:
    """``other``'s faces become ``keep``'s, and ``other`` goes, if both are still there: decided
    by the writes themselves (begun in a fresh transaction; the caller commits), so that two
    merges of the same people at once cannot both act. False when one of them has gone."""
    await _lock_tenant(session, tenant_id)  # (PostgreSQL: one face assignment or merge at once)
    kept = select(Person.id).where(Person.id == keep_id, Person.tenant_id == tenant_id)
    await session.execute(
        update(FaceRecord)
        .where(FaceRecord.person_id == other_id, kept.exists())
        .values(person_id=keep_id)
    )
    removed = await session.execute(
        delete(Person).where(Person.id == other_id, Person.tenant_id == tenant_id, kept.exists())
    )
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return False
    if other_name is not None:
        await session.execute(
            update(Person)
            .where(Person.id == keep_id, Person.name.is_(None))
            .values(name=other_name)
        )
    return True
