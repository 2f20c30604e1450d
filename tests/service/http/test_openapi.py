"""The OpenAPI document tells the truth: every error a route gives is declared, as problem+json,
and Schemathesis, fuzzing every operation of a real service, finds no 5xx and no answer the
document does not declare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from service.http.problems import PROBLEM_JSON
from service.storage.server import RedisServer
from tests._support.stack import SECRET, SECRET_KEY, SERVICE_ENV, SITE_KEY, Service

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

SEED = "20261201"
# Seconds of the time budget: every operation with the secret key, then the storefront's with
# the site key, as a browser calls them.
SECRET_S, SITE_S = 45, 15
# A Redis round trip slower than the service's 100 ms is a 503, as it should be; on a test
# machine shared with other work it happens for no fault of the code under test.
PATIENT = {"WITRYNA_REDIS_TIMEOUT_MS": "2000"}
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


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


def test_every_operation_says_what_it_does_and_answers_errors_as_problem_json(
    service: Service,
) -> None:
    document = httpx.get(f"{service.url}/schema/openapi.json", headers=SECRET).json()
    for (method, path), operation in operations(document).items():
        where = f"{method.upper()} {path}"
        # Litestar's fallback summary is the handler's name, one word ("PageView").
        assert " " in operation.get("summary", ""), f"{where}: a summary in words"
        description = operation.get("description", "")
        assert len(description) > len(operation["summary"]), f"{where}: a description"
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/readyz", "503"):
                continue  # a probe's 503 is its answer, in the JSON of its 200
            assert list(response["content"]) == [PROBLEM_JSON], f"{where} {status}"


def test_an_invalid_body_answers_in_the_declared_problem_shape(service: Service) -> None:
    answer = httpx.post(f"{service.url}/v1/events", headers=SECRET, json={"events": []})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["errors"] == [{"field": "events", "message": body["errors"][0]["message"]}]
    refused = httpx.post(f"{service.url}/v1/events", json={"events": []})
    assert set(refused.json()) == {"type", "title", "status", "detail"}, "no errors: null"


def fuzz(
    schema: Path, url: str, folder: Path, seconds: int, config: str, *filters: str
) -> ElementTree.Element:
    """Schemathesis's JUnit report, once it has found nothing: else fails with every case it
    found and its own account of the run."""
    folder.mkdir()
    (folder / "schemathesis.toml").write_text(config)
    junit = folder / "junit.xml"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml"),
        *("run", str(schema), "--url", url, "--seed", SEED, "--max-time", str(seconds)),
        *("--continue-on-failure", "--checks", CHECKS, "--generation-database", "none"),
        *("--no-color", "--report", "junit", "--report-junit-path", str(junit), *filters),
    ]
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=seconds + 120
    )
    account = done.stdout[-6000:] + done.stderr[-3000:]
    assert junit.exists(), account
    report = ElementTree.parse(junit).getroot()
    found = [
        f"{case.get('name')}: {failed.text or failed.get('message')}"[:3000]
        for case in report.iter("testcase")
        for failed in (*case.iter("failure"), *case.iter("error"))
    ]
    assert not found, "\n\n".join(found) + "\n\n" + account
    assert done.returncode == 0, account
    return report


def cases_in(report: ElementTree.Element) -> set[str]:
    return {str(case.get("name")) for case in report.iter("testcase")}


def labels(chosen: dict[tuple[str, str], dict[str, Any]]) -> set[str]:
    return {f"{method.upper()} {path}" for method, path in chosen}


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_nothing_undeclared(
    redis_server: RedisServer, artefact: Path, tmp_path: Path
) -> None:
    with Service(redis_server.url, **SERVICE_ENV, **PATIENT) as running:
        document = httpx.get(f"{running.url}/schema/openapi.json", headers=SECRET).json()
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(document))
        every = operations(document)
        secret = f'headers = {{ Authorization = "Bearer {SECRET_KEY}" }}\n'
        report = fuzz(schema, running.url, tmp_path / "secret", SECRET_S, secret)
        assert labels(every) <= cases_in(report)

        storefront = {k: o for k, o in every.items() if o.get("security") == STOREFRONT}
        only = [
            f for o in storefront.values() for f in ("--include-operation-id", o["operationId"])
        ]
        site = f'[auth.openapi.siteKey]\napi_key = "{SITE_KEY}"\n'
        report = fuzz(schema, running.url, tmp_path / "site", SITE_S, site, *only)
        assert labels(storefront) <= cases_in(report)
