"""``/people``: faces grouped into people, per tenant (only with ``SCOPIX_SERVER_PEOPLE=true``).

``GET /people`` lists them, most files first; ``GET /people/{id}/files`` the files with their
faces; ``PATCH /people/{id}`` names one; ``POST /people/{id}/merge`` moves another's faces to
it (the other then goes).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select

from ...db.models import File
from ...errors import Conflict, NotFound
from ...jobs.steps.variants import THUMBNAIL
from ...schemas import FileList, PeopleList, PersonInfo, PersonMerge, PersonUpdate, page
from ...services import files as file_service
from ...services.people import files_of, get_person, merge_people, people_of
from ..deps import AuthDep, SessionDep, StateDep
from ..ingest import signed_url
from ..openapi import errors

__all__ = ["router"]

router = APIRouter(tags=["people"])


def _on(state: StateDep) -> None:
    if not state.settings.people:  # (not served: 404, with how to turn it on)
        raise NotFound(
            "grouping faces into people is off on this server (it stores a descriptor of "
            "every face); an administrator turns it on with SCOPIX_SERVER_PEOPLE=true"
        )


async def _info(session: SessionDep, tenant_id: str, person_id: str) -> dict[str, Any]:
    listed, _total = await people_of(session, tenant_id, limit=1, offset=0, only=person_id)
    if not listed:
        raise NotFound("this person has no faces left in live files")
    return listed[0]


@router.get(
    "/people",
    response_model=PeopleList,
    summary="People, most files first",
    responses=errors(404),
)
async def list_people(
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    _on(state)
    items, total = await people_of(session, auth.tenant.id, limit=limit, offset=offset)
    return page(items, total=total, limit=limit, offset=offset)


@router.get(
    "/people/{person_id}/files",
    response_model=FileList,
    summary="The files with a face of this person, newest first",
    responses=errors(404),
)
async def person_files(
    person_id: str,
    request: Request,
    auth: AuthDep,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    _on(state)
    person = await get_person(session, auth.tenant.id, person_id)
    query = select(File).where(
        File.tenant_id == auth.tenant.id,
        File.deleted_at.is_(None),
        files_of(auth.tenant.id, person.id),
    )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(File.created_at.desc(), File.id).limit(limit).offset(offset)
    )
    items = [
        file_service.summary(
            row, thumbnail_url=signed_url(request, state, row, download=False, variant=THUMBNAIL)
        )
        for row in rows
    ]
    return page(items, total=total, limit=limit, offset=offset)


@router.patch(
    "/people/{person_id}",
    response_model=PersonInfo,
    summary="Name a person (null forgets the name)",
    responses=errors(404),
)
async def rename(
    person_id: str, body: PersonUpdate, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    _on(state)
    person = await get_person(session, auth.tenant.id, person_id)
    person.name = (body.name or "").strip() or None
    await session.commit()
    return await _info(session, auth.tenant.id, person.id)


@router.post(
    "/people/{person_id}/merge",
    response_model=PersonInfo,
    summary="Move another person's faces to this one (the other then goes)",
    responses=errors(404, 409),
)
async def merge(
    person_id: str, body: PersonMerge, auth: AuthDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    _on(state)
    keep = await get_person(session, auth.tenant.id, person_id)
    other = await get_person(session, auth.tenant.id, body.person_id)
    if other.id == keep.id:
        raise Conflict("a person cannot be merged with itself: name two different people")
    tenant_id, keep_id, other_id, other_name = auth.tenant.id, keep.id, other.id, other.name
    await session.rollback()  # (the reads end here: the merge is decided by its own writes)
    if not await merge_people(session, tenant_id, keep_id, other_id, other_name):
        raise Conflict(
            f"person {keep_id} or {other_id} was merged or removed meanwhile; list the people "
            "again (GET /people)"
        )
    await session.commit()
    return await _info(session, tenant_id, keep_id)
