"""schemathesis hooks of scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

A multipart form sends every value as text. A number, boolean or null that schemathesis puts
in a field whose schema is a plain string arrives as a valid string ("8.41", "false"), which
no server can tell from one a client typed; schemathesis then reports "schema-violating request
accepted". Such bodies are not generated; every other mutation (a value outside an enum or a
pattern, a missing file, an unknown field) still is. (schemathesis skips these mutations in its
coverage phase since 4.18.1, not yet in its fuzzing phase.)
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


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:  # noqa: ARG001 (the hook's signature)
    if case.media_type != MULTIPART or not isinstance(case.body, dict):
        return True
    properties = _form_properties(case)
    for name, value in case.body.items():
        field = properties.get(name)
        text_field = isinstance(field, dict) and field.get("type") == "string"
        if text_field and not isinstance(value, (str, bytes)):
            return False  # text on the wire either way: no server can refuse it
    return True
