"""Request bodies for the OpenAPI document, from the msgspec Structs the handlers decode.

The handlers decode bodies themselves with strict, prebuilt msgspec decoders (Litestar's
own conversion is lax: it would take ``"9"`` for a price), so Litestar cannot see the
body type; this module describes it instead, from msgspec's own JSON Schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from service.http.bodies import MEDIA_TYPES

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RENAMED = {"not": "schema_not", "if": "schema_if", "else": "schema_else"}


def _snake(key: str) -> str:
    return _RENAMED.get(key) or _CAMEL.sub("_", key).lower()


def _schema(node: dict[str, Any], defs: dict[str, Any]) -> Schema:
    if "$ref" in node:
        return _schema(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    fields: dict[str, Any] = {}
    for key, value in node.items():
        name = _snake(key)
        if name == "type":
            fields[name] = OpenAPIType(value)
        elif name == "properties":
            fields[name] = {k: _schema(v, defs) for k, v in value.items()}
        elif name in ("items", "additional_properties") and isinstance(value, dict):
            fields[name] = _schema(value, defs)
        elif name in ("any_of", "one_of", "all_of"):
            fields[name] = [_schema(v, defs) for v in value]
        elif name in Schema.__dataclass_fields__:
            fields[name] = value
    return Schema(**fields)


def json_body(struct: type[msgspec.Struct]) -> type[Operation]:
    """An Operation class whose request body is ``struct`` as JSON, refused in another type."""
    document = msgspec.json.schema(struct)
    body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=_schema(document, document["$defs"]))},
        required=True,
    )
    unsupported = OpenAPIResponse(
        description=f"Unsupported media type: a Content-Type other than {' or '.join(MEDIA_TYPES)}"
    )

    @dataclass
    class WithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = body
            self.responses = {**(self.responses or {}), "415": unsupported}

    return WithBody
