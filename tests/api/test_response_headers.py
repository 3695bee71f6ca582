"""Issue #13 part 5: every API response says ``Cache-Control: no-store`` and ``nosniff``, and the
links we hand out come from configuration, never from the caller's ``Host`` header.

Every operation in the OpenAPI document is called, anonymously and as a signed-in worker, with
made-up ids and an empty body: whatever each answers (200, 401, 403, 404, 422...), the headers
are there. So are they on the errors no operation documents: an unknown path, a wrong method,
malformed JSON, a body too large, a rate-limited sign-in.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest

from tests.api.test_feedback import _care_leavers, invite

__all__ = ["_care_leavers"]  # the autouse fixture: a1's first child is a care leaver


def missing_headers(response) -> list[str]:
    missing = []
    if "no-store" not in response.headers.get("Cache-Control", ""):
        missing.append("Cache-Control: no-store")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    response.close()
    return missing


def operations(spec):
    """``(method, path with made-up ids, takes JSON)`` for each operation; signing out last."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            concrete = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
            takes_json = "application/json" in (operation.get("requestBody") or {}).get(
                "content", {}
            )
            found.append((method.upper(), concrete, takes_json))
    return sorted(found, key=lambda operation: operation[1].endswith("/auth/logout"))


def test_every_operation_answers_with_no_store_and_nosniff(client, worker):
    spec = client.get("/api/v1/openapi.json").get_json()
    seen, failures = set(), []
    for method, path, takes_json in operations(spec):
        kwargs = {"json": {}} if takes_json else {}
        for caller in ("anonymous", "worker"):
            if caller == "worker":
                response = worker._call(method, path.removeprefix("/api/v1"), **kwargs)
            else:
                response = client.open(path, method=method, **kwargs)
            seen.add(response.status_code)
            if missing := missing_headers(response):
                failures.append((method, path, caller, response.status_code, missing))
    assert not failures
    assert {200, 401, 404, 422} <= seen  # the walk met successes and refusals alike


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/no-such-thing", {}, 404),
        ("DELETE", "/api/v1/me", {}, 405),
        (
            "POST",
            "/api/v1/auth/token",
            {"data": b"{not json", "content_type": "application/json"},
            400,
        ),
        (
            "POST",
            "/api/v1/auth/token",
            {"data": b"[" * 2_000_000, "content_type": "application/json"},
            413,
        ),
        ("GET", "/api/v1/openapi.json", {}, 200),
    ],
)
def test_errors_no_operation_documents_carry_them_too(client, method, path, kwargs, status):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    assert not missing_headers(response)


def test_a_rate_limited_sign_in_carries_them(app, client):
    app.config["LOGIN_RATE_LIMIT"] = "1 per minute"
    try:
        body = {"username": "someone", "password": "wrong"}
        env = {"REMOTE_ADDR": "192.0.2.77"}
        client.post("/api/v1/auth/token", json=body, environ_base=env)
        limited = client.post("/api/v1/auth/token", json=body, environ_base=env)
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "10000 per minute"
    assert limited.status_code == 429
    assert not missing_headers(limited)


@pytest.mark.parametrize(
    "hostile",
    [
        {"Host": "council-login.example.net"},
        {"X-Forwarded-Host": "council-login.example.net", "X-Forwarded-Proto": "https"},
    ],
)
def test_an_invite_link_ignores_a_hostile_host_header(app, world, worker, hostile):
    app.config["PUBLIC_BASE_URL"] = "https://visits.council.example"
    try:
        created = invite_with_headers(worker, world.child_ids["a1"][0], hostile)
    finally:
        app.config["PUBLIC_BASE_URL"] = None
    link = urlsplit(created["url"])
    assert (link.scheme, link.netloc, link.path) == ("https", "visits.council.example", "/feedback")
    assert "example.net" not in created["url"]


def invite_with_headers(worker, child_id, headers):
    response = worker.post("/feedback/invites", json={"child_id": child_id}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_without_a_public_address_links_use_the_service_url(app, world, worker):
    created = invite(worker, world.child_ids["a1"][0])
    assert created["url"].startswith(app.config["SERVICE_URL"] + "/feedback?invite=")
