"""direct uploads: the options as typed values, not form fields

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 19:00:00

``direct_uploads.options`` held the upload form's fields (``{"auto_describe": ["true"], "tags":
["a,b"], ...}``), parsed again at ``complete``. It now holds ``UploadOptions.to_json()``
(``{"auto_describe": true, "tags": ["a", "b"], ...}``). Uploads started before this version
(still pending, or kept as a record) are rewritten here; their values were checked when they
started, so this only changes their shape.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TRUE = ("true", "1", "yes", "on")
_BOOLEANS = {"auto_describe": True, "skip_duplicates": False}
_TEXTS = ("title", "storage_target", "folder_id", "project_id", "content_category")
_DEFAULTS: dict[str, Any] = {"storage_target": "default", "content_category": "general"}

_uploads = sa.table("direct_uploads", sa.column("id", sa.String), sa.column("options", sa.JSON))


def _first(fields: dict[str, Any], name: str) -> str | None:
    values = fields.get(name)
    if isinstance(values, list):
        return str(values[0]).strip() if values else None
    return None


def typed(fields: dict[str, Any]) -> dict[str, Any]:
    """The typed options of form ``fields`` (as ``UploadOptions.to_json()`` writes them)."""
    options: dict[str, Any] = {}
    for name in _TEXTS:
        options[name] = _first(fields, name) or _DEFAULTS.get(name)
    for name, default in _BOOLEANS.items():
        value = _first(fields, name)
        options[name] = default if not value else value in _TRUE
    raw_tags = _first(fields, "tags") or ""
    options["tags"] = list(dict.fromkeys(t.strip() for t in raw_tags.split(",") if t.strip()))
    options["custom_schema_id"] = None
    return options


def _is_form(options: Any) -> bool:
    """Form fields: every value a list (typed options hold a list only in ``tags``)."""
    return isinstance(options, dict) and any(
        isinstance(value, list) for name, value in options.items() if name != "tags"
    )


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_uploads.c.id, _uploads.c.options)).all()
    for row_id, options in rows:
        if _is_form(options):
            bind.execute(
                _uploads.update().where(_uploads.c.id == row_id).values(options=typed(options))
            )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_uploads.c.id, _uploads.c.options)).all()
    for row_id, options in rows:
        if not isinstance(options, dict) or _is_form(options):
            continue
        fields: dict[str, list[str]] = {}
        for name, value in options.items():
            if value is None or name == "custom_schema_id":
                continue
            if isinstance(value, bool):
                fields[name] = ["true" if value else "false"]
            elif name == "tags":
                if value:
                    fields[name] = [",".join(value)]
            else:
                fields[name] = [str(value)]
        bind.execute(_uploads.update().where(_uploads.c.id == row_id).values(options=fields))
