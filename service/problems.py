"""The one error handler: every failure leaves as ``application/problem+json``."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from service.errors import InvalidField, WitrynaError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_AT_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def _field_errors(exc: ValidationException) -> list[dict[str, str]]:
    """Name the offending field; msgspec puts its JSON path at the end of the message."""
    errors: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message = str(item.get("message", "")) if isinstance(item, dict) else str(item)
        match = _AT_PATH.search(message)
        field = match["path"] if match else str(item.get("key", "body"))
        errors.append({"field": field or "body", "message": _AT_PATH.sub("", message)})
    return errors


def _problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, InvalidField):
        return _problem(exc.status_code, exc.title, exc.detail, errors=[
            {"field": exc.field, "message": exc.detail}
        ])  # fmt: skip
    if isinstance(exc, WitrynaError):
        return _problem(exc.status_code, exc.title, exc.detail)
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc)
        if not errors:
            return _problem(400, "Malformed body", str(exc.detail))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _problem(422, "Invalid field", detail, errors=errors)
    if isinstance(exc, HTTPException):
        return _problem(exc.status_code, str(exc.detail), str(exc.detail))
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _problem(500, "Internal error", "an unexpected error was logged")
