"""The OpenAPI document tells the truth: every error a route gives is declared, as problem+json."""

from __future__ import annotations

from typing import Any

import httpx

from service.http.problems import PROBLEM_JSON
from tests._support.stack import SECRET, Service

# The errors each operation can give, as the handlers and the guard raise them.
BODY = {400, 401, 413, 415, 422}
ERRORS = {
    ("post", "/v1/page-views"): BODY | {429},
    ("post", "/v1/events"): BODY | {429},
    ("put", "/v1/catalog/items"): BODY | {403, 503},
    ("get", "/v1/experiments/{experiment_id}"): {400, 401, 403, 404, 503},
    ("post", "/v1/identify"): BODY | {403, 409, 503},
    ("put", "/v1/visitors/{visitor_id}/consent"): BODY | {403, 404, 503},
    ("get", "/v1/visitors/{visitor_id}/profile"): {400, 401, 403, 404, 422, 503},
    ("delete", "/v1/visitors/{visitor_id}"): {400, 401, 403, 404, 422, 503},
    ("get", "/healthz"): set(),
    ("get", "/readyz"): set(),
    ("get", "/metrics"): {401, 403},
    ("get", "/dashboard/data"): {401, 403},
}
STOREFRONT = [{"siteKey": []}, {"secretKey": []}]


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_every_operation_declares_the_errors_it_gives_as_problem_json(service: Service) -> None:
    document = httpx.get(f"{service.url}/schema/openapi.json", headers=SECRET).json()
    found = operations(document)
    assert set(found) == set(ERRORS)
    for key, operation in found.items():
        errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        if key == ("get", "/readyz"):
            # A probe's 503 is its answer: the same JSON as when ready.
            assert list(errors[503]["content"]) == ["application/json"]
            del errors[503]
        assert set(errors) == ERRORS[key], key
        for status, response in errors.items():
            (media,) = response["content"].items()
            assert media == (PROBLEM_JSON, {"schema": {"$ref": "#/components/schemas/Problem"}})
            assert response["description"], (key, status)
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["detail", "status", "title", "type"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["siteKey"] == {
        **schemes["siteKey"],
        "type": "apiKey",
        "in": "query",
        "name": "key",
    }
    assert schemes["secretKey"]["scheme"] == "bearer"
    assert found["post", "/v1/identify"]["security"] == STOREFRONT
    assert found["get", "/metrics"]["security"] == [{"secretKey": []}]
    assert "security" not in found["get", "/healthz"]


def test_an_invalid_body_answers_in_the_declared_problem_shape(service: Service) -> None:
    answer = httpx.post(f"{service.url}/v1/events", headers=SECRET, json={"events": []})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["errors"] == [{"field": "events", "message": body["errors"][0]["message"]}]
    refused = httpx.post(f"{service.url}/v1/events", json={"events": []})
    assert set(refused.json()) == {"type", "title", "status", "detail"}, "no errors: null"
