"""schemathesis hooks of scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

A multipart form and a query string send every value as text. A number, boolean, null or object
that schemathesis puts in a field whose schema is a plain string arrives as a valid string
("8.41", "false", "{'a': 1}"), which no server can tell from one a client typed; schemathesis
then reports "schema-violating request accepted". Such cases are not generated, in multipart
bodies and in free-text query parameters (``?tags=``); every other mutation (a value outside an
enum or a pattern, a missing file, an unknown field) still is. (schemathesis skips these
mutations in its coverage phase since 4.18.1, not yet in its fuzzing phase.)
"""

from __future__ import annotations

from typing import Any

import schemathesis

MULTIPART = "multipart/form-data"


def _form_properties(case: Any) -> dict[str, Any]:
    try:
        content = case.operation.definition.raw["requestBody"]["content"][MULTIPART]
        properties = content["schema"]["properties"]
    except (KeyError, TypeError):
        return {}
    return properties if isinstance(properties, dict) else {}


def _free_text(schema: Any) -> bool:
    """A string with no pattern, format or enum, or a list of such strings (or null)."""
    if not isinstance(schema, dict):
        return False
    if "anyOf" in schema:
        branches = [
            b for b in schema["anyOf"] if not (isinstance(b, dict) and b.get("type") == "null")
        ]
        return bool(branches) and all(_free_text(b) for b in branches)
    if schema.get("type") == "array":
        return _free_text(schema.get("items"))
    constrained = {"pattern", "format", "enum", "const"} & set(schema)
    return schema.get("type") == "string" and not constrained


def _query_ok(case: Any) -> bool:
    if not isinstance(case.query, dict):
        return True
    parameters = case.operation.definition.raw.get("parameters") or []
    free = {
        p.get("name")
        for p in parameters
        if isinstance(p, dict) and p.get("in") == "query" and _free_text(p.get("schema"))
    }
    for name, value in case.query.items():
        values = value if isinstance(value, list) else [value]
        if name in free and not all(isinstance(v, str) for v in values):
            return False  # text on the wire either way: no server can refuse it
    return True


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:  # noqa: ARG001 (the hook's signature)
    if not _query_ok(case):
        return False
    if case.media_type != MULTIPART or not isinstance(case.body, dict):
        return True
    properties = _form_properties(case)
    for name, value in case.body.items():
        field = properties.get(name)
        text_field = isinstance(field, dict) and field.get("type") == "string"
        if text_field and not isinstance(value, (str, bytes)):
            return False  # text on the wire either way: no server can refuse it
    return True
