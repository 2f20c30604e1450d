"""What the OpenAPI document says that Litestar cannot see: request bodies, error responses
and the keys each route needs.

The handlers decode bodies themselves with strict, prebuilt msgspec decoders (Litestar's
own conversion is lax: it would take ``"9"`` for a price), so Litestar cannot see the
body type; this module describes it instead, from msgspec's own JSON Schema. Every error
leaves through service/http/problems.py as problem+json, which Litestar cannot see either:
``document`` declares, for each route, the errors its owner, its body and its parameters can
give, and the route declares its own with ``problems``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.params import Parameter

from service.http.auth import CHALLENGE
from service.http.bodies import MEDIA_TYPES
from service.http.owners import Owner, owner_of
from service.http.problems import PROBLEM_JSON, Problem
from service.schema import VisitorId

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RENAMED = {"not": "schema_not", "if": "schema_if", "else": "schema_else"}
# Litestar's path parameters carry their type, "{visitor_id:str}"; the owners table does not.
_TYPED = re.compile(r"\{(\w+):[^}]*\}")

# Named in components.securitySchemes (service/http/swagger.py) and in each route's security.
SECRET_KEY, SITE_KEY = "secretKey", "siteKey"
SECURITY_SCHEMES = {
    SECRET_KEY: SecurityScheme(
        type="http",
        scheme="bearer",
        description="A secret key, for the shop's servers (also the password of Basic auth)",
    ),
    SITE_KEY: SecurityScheme(
        type="apiKey",
        name="key",
        security_scheme_in="query",
        description="The site key, publishable, for the storefront",
    ),
}
_SECURITY: dict[Owner | None, list[SecurityRequirement] | None] = {
    None: None,
    Owner.PUBLIC: None,
    Owner.SITE: [{SITE_KEY: []}, {SECRET_KEY: []}],
    Owner.SECRET: [{SECRET_KEY: []}],
}

_WHY = {
    400: "Malformed: the body is not JSON, or a parameter cannot be read",
    401: f"Key required: none, or none of this service's ({CHALLENGE['WWW-Authenticate']})",
    403: "Key not allowed here: a site key where a secret key or a signed link is needed",
    404: "Not found: nothing under this id, or an id holding a '/', which leaves the route",
    409: "Conflict: the id is already linked to another customer",
    413: "Body too large: more than WITRYNA_MAX_BODY_BYTES",
    415: f"Unsupported media type: a Content-Type other than {' or '.join(MEDIA_TYPES)}",
    422: "Invalid field: errors names each field that breaks the schema",
    429: "Too many requests: Retry-After says when the next second begins",
    503: "Unavailable: Redis did not answer; safe to send again after Retry-After",
}
# What a route can answer besides its own outcome, by who may call it (service/http/owners.py):
# the guard refuses a missing key, a site key on a secret key's route, and every caller of a
# route without an owner.
_BY_OWNER: dict[Owner | None, tuple[int, ...]] = {
    None: (403,),
    Owner.PUBLIC: (),
    Owner.SITE: (401,),
    Owner.SECRET: (401, 403),
}
# ... by reading a JSON body (service/http/bodies.py), and by taking path parameters.
_BY_BODY = (400, 413, 415, 422)
_BY_PARAMETERS = (400, 404)


# The handlers check a path's visitor id themselves, as in bodies (422, not Litestar's 400);
# this only shows its rules.
_VISITOR_ID_RULES = {k: v for k, v in msgspec.json.schema(VisitorId).items() if k != "type"}
PathVisitorId = Annotated[str, Parameter(schema_extra=_VISITOR_ID_RULES)]


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Error responses a route gives on its own, beyond those ``document`` declares for all."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_WHY[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }


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


@dataclass
class BodyOperation(Operation):
    """An operation whose handler reads a JSON body itself."""


def json_body(struct: type[msgspec.Struct]) -> type[Operation]:
    """An Operation class whose request body is ``struct`` as JSON, refused in another type."""
    document = msgspec.json.schema(struct)
    body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=_schema(document, document["$defs"]))},
        required=True,
    )

    @dataclass
    class WithBody(BodyOperation):
        def __post_init__(self) -> None:
            self.request_body = body

    return WithBody


def document(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """``handlers``, each declaring the keys it takes and the errors it can give."""
    for handler in handlers:
        if handler.include_in_schema:
            _declare(handler)
    return list(handlers)


def _declare(handler: HTTPRouteHandler) -> None:
    (path,) = handler.paths
    (method,) = handler.http_methods
    owner = owner_of(method, _TYPED.sub(r"{\1}", path))
    statuses = set(_BY_OWNER[owner])
    if issubclass(handler.operation_class, BodyOperation):
        statuses.update(_BY_BODY)
    if "{" in path:
        statuses.update(_BY_PARAMETERS)
    own: Mapping[int, ResponseSpec] = handler.responses or {}
    handler.responses = dict(sorted({**problems(*statuses), **own}.items()))
    handler.security = _SECURITY[owner]
