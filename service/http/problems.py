"""The one error handler: every failure leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from msgspec import Struct

from service.errors import InvalidBody, TooManyRequests, WitrynaError
from service.storage.client import UNREACHABLE

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(Struct, kw_only=True):
    field: str
    message: str


class Problem(Struct, kw_only=True, omit_defaults=True):
    """An error as RFC 9457 problem details; the OpenAPI document declares it from this type."""

    type: str
    title: str
    status: int
    detail: str
    # Only for 422: the fields that break the schema, by dotted path.
    errors: list[FieldError] | None = None


def _problem(
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> Response[Problem]:
    return Response(
        Problem(type="about:blank", title=title, status=status, detail=detail, errors=errors),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if isinstance(exc, InvalidBody):
        errors = [FieldError(field=exc.field, message=exc.message)]
        return _problem(exc.status_code, exc.title, exc.detail, errors=errors)
    if isinstance(exc, TooManyRequests):
        retry = {"Retry-After": str(exc.retry_after_s)}
        return _problem(exc.status_code, exc.title, exc.detail, headers=retry)
    if isinstance(exc, WitrynaError):
        return _problem(exc.status_code, exc.title, exc.detail, headers=exc.headers)
    if isinstance(exc, HTTPException):
        return _problem(exc.status_code, str(exc.detail), str(exc.detail), headers=exc.headers)
    if isinstance(exc, UNREACHABLE):
        # Page views and events degrade on their own; what needs Redis to answer says so.
        log.warning("%s %s: redis unreachable: %s", request.method, request.url.path, exc)
        detail = "redis did not answer; the request is safe to send again"
        return _problem(503, "Redis unavailable", detail, headers={"Retry-After": "1"})
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _problem(500, "Internal error", "an unexpected error was logged")
