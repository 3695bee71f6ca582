"""The OpenAPI document is valid OpenAPI 3.0.3, and it names the headers the service sends.

``X-Correlation-Id`` is sent on a 500 only (service/errors.py, ``internal_error_problem``): the
server makes it, a client's is never taken. It is documented once, as a header component that
the server-error response every operation shares refers to. ``X-Request-Id`` is a request
parameter of every operation and a header of every answer (service/audit/trail.py).

The document is checked against the OpenAPI Initiative's JSON Schema for 3.0
(``tests/openapi_3_0_schema.json``, id ``https://spec.openapis.org/oas/3.0/schema/2021-09-28``,
Apache-2.0, the file openapi-spec-validator 0.9 ships), with the jsonschema the tests already use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from service.errors import CORRELATION_HEADER

OPENAPI_3_0 = Path(__file__).resolve().parents[1] / "openapi_3_0_schema.json"


def document(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def resolved(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """``item``, or what its ``$ref`` points to (within the document)."""
    while "$ref" in item:
        *_, kind, name = item["$ref"].split("/")
        item = spec["components"][kind][name]
    return item


def operations(spec: dict[str, Any]):
    for path, items in spec["paths"].items():
        for method, operation in items.items():
            if method != "parameters":
                yield f"{method.upper()} {path}", operation


def test_the_document_is_valid_openapi_3_0(client):
    schema = json.loads(OPENAPI_3_0.read_text())
    jsonschema.Draft4Validator(schema).validate(document(client))


def test_the_validation_would_catch_a_malformed_header(client):
    spec = document(client)
    spec["components"]["headers"]["CORRELATION_ID"]["required"] = "sometimes"
    schema = json.loads(OPENAPI_3_0.read_text())
    assert not jsonschema.Draft4Validator(schema).is_valid(spec)


def test_every_operation_documents_x_correlation_id_on_its_server_errors(client):
    spec = document(client)
    header = spec["components"]["headers"]["CORRELATION_ID"]
    assert header["schema"] == {"type": "string", "pattern": "^[0-9a-f]{32}$"}
    assert "500" in header["description"]
    count = 0
    for name, operation in operations(spec):
        count += 1
        server_errors = [
            resolved(spec, response)
            for status, response in operation["responses"].items()
            if str(status) in ("5XX", "500")
        ]
        assert server_errors, name
        for response in server_errors:
            documented = response.get("headers", {}).get(CORRELATION_HEADER)
            assert documented == {"$ref": "#/components/headers/CORRELATION_ID"}, name
        # Only the server makes one: it is not a request parameter of any operation.
        for parameter in operation.get("parameters", []):
            assert resolved(spec, parameter)["name"].lower() != CORRELATION_HEADER.lower(), name
    assert count >= 50


def test_a_500_carries_the_documented_header_and_never_the_callers(client, monkeypatch):
    from service.auth import routes

    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(routes.operations, "login", explode)
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "a", "password": "b"},
        headers={CORRELATION_HEADER: "my-own-id"},
    )
    assert response.status_code == 500
    sent = response.headers[CORRELATION_HEADER]
    pattern = document(client)["components"]["headers"]["CORRELATION_ID"]["schema"]["pattern"]
    assert re.fullmatch(pattern, sent), sent
    assert sent == response.get_json()["correlation_id"] != "my-own-id"


def test_other_answers_carry_no_correlation_id(client):
    for response in (
        client.get("/api/v1/me"),  # 401
        client.get("/api/v1/openapi.json"),  # 200
        client.post("/api/v1/auth/token", data="{", content_type="application/json"),  # 400
    ):
        assert CORRELATION_HEADER not in response.headers, response.status_code


RETRY_AFTER_REF = {"$ref": "#/components/headers/RETRY_AFTER"}


def test_every_answer_that_says_when_to_try_again_documents_retry_after(client):
    """Every 429, 503 and 507 sends ``Retry-After`` (service/errors.py), and the shared 5XX
    response, which covers a 503, says so.
    """
    spec = document(client)
    header = spec["components"]["headers"]["RETRY_AFTER"]
    assert header["schema"] == {"type": "integer", "minimum": 1}
    checked = set()
    for name, operation in operations(spec):
        for status, response in operation["responses"].items():
            if str(status) in ("429", "503", "507", "5XX"):
                documented = resolved(spec, response).get("headers", {}).get("Retry-After")
                assert documented == RETRY_AFTER_REF, (name, status)
                checked.add((name, str(status)))
    assert {("POST /api/v1/auth/token", "429"), ("POST /api/v1/auth/refresh", "429")} <= checked


def test_a_refresh_over_its_address_limit_is_the_documented_429(app, client):
    saved = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    try:
        replies = [
            client.post(
                "/api/v1/auth/refresh",
                json={"refresh_token": "not-a-token"},
                environ_base={"REMOTE_ADDR": "203.0.113.77"},  # no other test's address
            )
            for _ in range(3)
        ]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = saved
    assert [reply.status_code for reply in replies] == [401, 401, 429]
    assert int(replies[-1].headers["Retry-After"]) >= 1


def test_the_token_endpoint_claims_only_the_events_it_records(client):
    description = document(client)["paths"]["/api/v1/auth/token"]["post"]["description"]
    words = " ".join(description.split())
    assert "Every sign-in" not in words
    assert (
        "a per-address 429, a body refused by validation (422) and a 503 are not recorded" in words
    )


REQUEST_ID_PARAMETER_REF = {"$ref": "#/components/parameters/REQUEST_ID"}
REQUEST_ID_HEADER_REF = {"$ref": "#/components/headers/REQUEST_ID"}


def test_every_operation_documents_x_request_id_in_and_out(client):
    """Every operation takes the caller's ``X-Request-Id`` and every answer names the one the
    request went by (service/audit/trail.py). A bad id is replaced, never refused, so the
    parameter is any string: a pattern or maxLength would document refusals that never happen.
    """
    spec = document(client)
    parameter = spec["components"]["parameters"]["REQUEST_ID"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == (
        "X-Request-Id",
        "header",
        False,
    )
    assert parameter["schema"] == {"type": "string"}
    header = spec["components"]["headers"]["REQUEST_ID"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 64}
    count = 0
    for name, operation in operations(spec):
        count += 1
        assert operation.get("parameters", []).count(REQUEST_ID_PARAMETER_REF) == 1, name
        for status, response in operation["responses"].items():
            documented = resolved(spec, response).get("headers", {}).get("X-Request-Id")
            assert documented == REQUEST_ID_HEADER_REF, (name, status)
    assert count >= 50


def test_any_x_request_id_is_taken_and_the_answer_is_as_documented(client):
    """Sane ids come back as sent; any other is replaced (32 hex digits), never refused; what
    comes back always matches the documented response header.
    """
    header = document(client)["components"]["headers"]["REQUEST_ID"]
    sane = ["req-42", "tablet.7:visit_3", "x" * 64]
    replaced = ["", "x" * 65, "two words", "<script>", "id;drop", "ü" * 3 + "\u202e"]
    for sent in sane + replaced:
        response = client.get("/api/v1/openapi.json", headers={"X-Request-Id": sent})
        assert response.status_code == 200, sent
        back = response.headers["X-Request-Id"]
        jsonschema.validate(back, header["schema"])
        if sent in sane:
            assert back == sent
        else:
            assert back != sent and re.fullmatch("[0-9a-f]{32}", back), (sent, back)
    refused = client.post("/api/v1/auth/token", json={}, headers={"X-Request-Id": "y" * 500})
    assert refused.status_code == 422  # the body's fault, not the id's
    assert re.fullmatch("[0-9a-f]{32}", refused.headers["X-Request-Id"])
