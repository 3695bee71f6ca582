"""Fuzzing from the OpenAPI document, as every role: no request gets a 500, and every answer is
as documented (DESIGN.md §8).

Schemathesis generates valid (positive) and invalid (negative) requests for every operation in
``/api/v1/openapi.json`` and sends them through the WSGI app, signed in as a social worker, a
supervisor, a manager and an admin, and as nobody at all. Each answer must be no server error,
have a documented status code, content type and headers, and match the documented schema
(errors are problem+json); invalid data must be refused.

Real records exist first, in both teams: a draft, a visit awaiting review, a returned one (a
child not seen, a photo, a review), an approved one (a delivery in the outbox), an invite and
an answered form, a registered tablet. Path parameters are drawn from team A's ids (what
worker_a and supervisor_a may see), team B's (what they may not) or generated ones, so full
answers are checked as well as refusals. Reads go first, deletions last.

Budget: ``FUZZ_EXAMPLES`` examples per operation, per role and per mode (10 by default; ``make
fuzz`` runs 200). ``FUZZ_SEED`` replays a run; every failure report names its seed.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.cases.models import Case, Child
from service.extensions import db
from tests.conftest import OIDC_AUDIENCE, OIDC_ISSUER
from tests.evidence_files import png_with_text
from tests.factories import new_id, visit_body

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or "10")
# Examples for an operation whose role check refuses the caller: every one is the same 403.
REFUSED = max(EXAMPLES // 5, 2)
SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))


@schemathesis.check
def json_header_conformance(ctx, response, case):
    """A header documented as JSON text (``content: application/json``, as ``X-Pagination`` is)
    parses as JSON and matches its schema. Schemathesis checks only headers with ``schema``.
    """
    documented = case.operation.responses.find_by_status_code(response.status_code)
    if documented is None:
        return None
    for name, header in documented.headers.items():
        described = header.definition.get("content", {}).get("application/json")
        values = response.headers.get(name.lower())
        if described is None or values is None:
            continue
        components = case.operation.schema.raw_schema["components"]
        schema = {**described["schema"], "components": components}
        try:
            jsonschema.validate(json.loads(values[0]), schema)
        except (ValueError, jsonschema.ValidationError) as error:
            raise AssertionError(f"{name}: {values[0]!r} is not as documented: {error}") from None
    return True


CHECKS = [
    not_a_server_error,
    json_header_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Who fuzzes: the role's name in the report, and the world's username (None: nobody, sending
# no credentials or bad ones, see hostile_credentials).
ROLES = {
    "anonymous": None,
    "social_worker": "worker_a",
    "supervisor": "supervisor_a",
    "manager": "manager",
    "admin": "admin",
}
# Reads first, so they meet the records before the writes change them; deletions last.
METHOD_ORDER = {"GET": 0, "PUT": 1, "PATCH": 1, "POST": 2, "DELETE": 3}


def load_schema(app):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The test signs in itself; a generated or mutated Authorization header would be replaced.
    loaded.config.generation.update(with_security_parameters=False)
    # A mutated body can exceed MAX_CONTENT_LENGTH: 413 is a rejection too (documented on every
    # operation with a JSON body), so it must count as one.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return loaded


def operations(app):
    found = [result.ok() for result in load_schema(app).get_all_operations()]
    return sorted(found, key=lambda operation: METHOD_ORDER[operation.method.upper()])


@dataclass
class Fuzzing:
    """One run's findings, and how to replay it."""

    role: str
    mode: GenerationMode
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    sent: int = 0
    replay: dict[tuple[str, str], str] = field(default_factory=dict)

    def seed_for(self, operation) -> int:
        """A seed per operation, from the run's: one operation replays without the others."""
        return zlib.crc32(f"{SEED} {self.role} {self.mode} {operation.label}".encode())

    def report(self) -> str:
        kinds = Counter((where, title) for where, title, _ in self.failures)
        first = {(where, title): message for where, title, message in reversed(self.failures)}
        lines = [
            f"FUZZ_SEED={SEED} FUZZ_EXAMPLES={EXAMPLES}: {len(self.failures)} failure(s) "
            f"as {self.role} ({self.mode})"
        ]
        for (where, title), count in kinds.most_common():
            lines.append(f"{count}x {where} {title}\n{first[(where, title)][:800]}")
            lines.append(f"replay: {self.replay[(where, title)][:1500]}")
        return "\n".join(lines)


def fuzz(operation, run: Fuzzing, credentials, known=(), examples=EXAMPLES):
    """Send generated requests for one operation; record every check that fails.

    Each example carries one of ``credentials`` (an ``Authorization`` header, or None for
    none); ``known`` is a list of path parameter sets (real ids): each example takes one of
    them or lets schemathesis generate the path.
    """
    names = {parameter.name for parameter in operation.path_parameters}
    choices: list[dict[str, Any] | None] = [None]
    if names:
        choices += [{k: v for k, v in ids.items() if k in names} for ids in known]

    def cases(fixed):
        return operation.as_strategy(generation_mode=run.mode, path_parameters=fixed or None)

    @seed(run.seed_for(operation))
    @given(
        case=st.sampled_from(choices).flatmap(cases),
        authorization=st.sampled_from(credentials),
    )
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case, authorization):
        sent = {**(case.headers or {})}
        if authorization is not None:
            sent["Authorization"] = authorization
        response = case.call(headers=sent)
        run.sent += 1
        where = f"{case.method} {case.path} {response.status_code}"
        titles = []
        try:
            case.validate_response(response, checks=CHECKS, headers=sent)
        except FailureGroup as group:
            titles = [(failure.title, failure.message) for failure in group.exceptions]
        if run.role == "anonymous" and needs_token(operation) and response.status_code < 300:
            titles.append(("Answered without valid credentials", repr(authorization)[:200]))
        for title, message in titles:
            run.failures.append((where, title, message))
            run.replay.setdefault((where, title), case.as_curl_command(headers=sent))

    try:
        send()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, no body) once the test supplies the token.
        assert run.mode == GenerationMode.NEGATIVE, operation.label


def conforming(schema, method, template, response, status):
    """``response``, once it has ``status`` and matches what the document says of it."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    schema[f"/api/v1{template}"][method].validate_response(response)
    return response


def visits(app, world, team, worker, supervisor, schema):
    """In one team's first case: a returned visit (a child not seen, a photo, a review), one
    awaiting review, one approved (a delivery for the core system) and a draft.
    """
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(world.case_ids[f"{team}1"]))
        returned, waiting, approved, draft = (visit_body(case) for _ in range(4))
    not_seen = returned["children"][1]["child_id"]
    returned["children"][1] = {"child_id": not_seen, "seen": False, "not_seen_reason": "no_access"}
    draft.update(ended_at=None, observations=None, children=[draft["children"][0]])
    bodies = {"returned": returned, "waiting": waiting, "approved": approved, "draft": draft}
    ids = {key: new_id() for key in bodies}
    for key, body in bodies.items():
        created = worker.put(f"/visits/{ids[key]}", json=body)
        conforming(schema, "PUT", "/visits/{visit_id}", created, 201)
    ids["photo"] = new_id()
    photo = worker.post(
        f"/visits/{ids['returned']}/attachments",
        data=png_with_text(),
        content_type="image/png",
        headers={"X-Attachment-Id": ids["photo"], "X-Attachment-Kind": "photo"},
    )
    conforming(schema, "POST", "/visits/{visit_id}/attachments", photo, 201)
    next_week = (date.today() + timedelta(days=7)).isoformat()
    decisions = {
        "returned": {
            "decision": "return",
            "comment": "Say more about the bedroom.",
            "management_decision": {"action": "Revisit unannounced", "due_by": next_week},
        },
        "approved": {"decision": "approve"},
    }
    for key in ("returned", "waiting", "approved"):
        submitted = worker.post(f"/visits/{ids[key]}/submit")
        etag = conforming(schema, "POST", "/visits/{visit_id}/submit", submitted, 200).headers[
            "ETag"
        ]
        if key in decisions:
            review = supervisor.post(
                f"/visits/{ids[key]}/review", json=decisions[key], headers={"If-Match": etag}
            )
            conforming(schema, "POST", "/visits/{visit_id}/review", review, 201)
    return ids


def feedback(app, client, worker, child_id, schema):
    """An invite for a care leaver, and the form answered through it."""
    with app.app_context():
        db.session.get(Child, uuid.UUID(child_id)).plan_type = "care_leaver"
        db.session.commit()
    invite = worker.post("/feedback/invites", json={"child_id": child_id})
    url = conforming(schema, "POST", "/feedback/invites", invite, 201).get_json()["url"]
    link = url[url.index("/feedback") :]
    page = client.get(link).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answers = {"life_satisfaction": "7", "worthwhile": "8", "happy_yesterday": "6"}
    sent = client.post(link, data={"csrf_token": token, "anxious_yesterday": "3", **answers})
    assert sent.status_code == 302


def known_ids(app, client, world, sign_in):
    """Seed both teams' records; return path parameter sets, team A's first, then team B's."""
    schema = load_schema(app)
    manager, admin = sign_in(world.usernames["manager"]), sign_in(world.usernames["admin"])
    known = []
    for team in ("a", "b"):
        worker = sign_in(world.usernames[f"worker_{team}"], device_id=f"tablet-{team}")
        supervisor = sign_in(world.usernames[f"supervisor_{team}"])
        ids = visits(app, world, team, worker, supervisor, schema)
        feedback(app, client, worker, world.child_ids[f"{team}1"][0], schema)
        (device,) = worker.get("/devices").get_json()
        common = {
            "case_id": world.case_ids[f"{team}1"],
            "child_id": world.child_ids[f"{team}1"][0],
            "attachment_id": ids["photo"],
            "device_id": device["id"],
            "number": 1,
        }
        known += [{**common, "visit_id": ids[key]} for key in ("returned", "approved", "draft")]
    answers = manager.get("/feedback").get_json()
    messages = admin.get("/admin/outbox").get_json()
    assert len(answers) == 2 and len(messages) == 2, (answers, messages)
    for index, ids in enumerate(known):
        team = index // 3
        ids.update(feedback_id=answers[team]["id"], message_id=messages[team]["id"])
    return known


def hostile_credentials(app, world, sign_in, jwks_server):
    """No credentials, and ``Authorization`` headers that must all be refused with a 401:
    expired, forged, unsigned, for nobody, revoked, a refresh token, NUL and other junk.
    """
    session = sign_in(world.usernames["manager"])
    claims = jwt.decode(session.token, options={"verify_signature": False})
    secret, now = app.config["JWT_SECRET"], datetime.now(UTC)
    past = now - timedelta(hours=1)
    revoked = sign_in(world.usernames["manager"])
    assert revoked.post("/auth/logout").status_code == 204
    stranger = jwt.encode(
        {
            "iss": OIDC_ISSUER,
            "aud": OIDC_AUDIENCE,
            "sub": "x",
            "iat": now,
            "exp": now + timedelta(minutes=5),
        },
        jwks_server.private_key,
        algorithm="RS256",
        headers={"kid": "no-such-key"},
    )
    tokens = [
        jwt.encode(
            {**claims, "iat": past, "nbf": past, "exp": past + timedelta(minutes=15)}, secret
        ),
        jwt.encode(claims, "guessed-secret-guessed-secret-32"),
        jwt.encode({**claims, "sub": str(uuid.uuid4())}, secret),
        jwt.encode({**claims, "role": "admin", "exp": 2**62}, "x" * 32),
        jwt.encode(claims, None, algorithm="none"),
        revoked.token,
        session.refresh_token,
        stranger,
        session.token + "\x00",
        "not-a-jwt",
        "a.b.c",
        "\u00e9\u2603",
    ]
    return [None, "Basic dXNlcjpwYXNz", "Bearer ", *(f"Bearer {token}" for token in tokens)]


def admitted(client, operation, token):
    """Whether the role gets past the operation's role check: a refused role is fuzzed with a
    few examples only. The probe changes nothing: 403 comes before the record is looked up or
    the body read, so it names records that do not exist and sends no body.
    """
    if operation.method.upper() == "POST" and operation.path.endswith("/logout"):
        return True  # any signed-in user; a bare call would end the session
    nothing = {"message_id": 2**31, "number": 2**31}
    ids = {p.name: nothing.get(p.name, uuid.uuid4()) for p in operation.path_parameters}
    path = operation.path.format(**ids)
    headers = {"Authorization": f"Bearer {token}"}
    return client.open(path, method=operation.method.upper(), headers=headers).status_code != 403


def needs_token(operation):
    """Whether the document says the operation needs a bearer token."""
    return bool(operation.definition.raw.get("security"))


def anonymous_examples(operation):
    """Operations that need a token refuse every example alike: a few are enough there."""
    return REFUSED if needs_token(operation) else EXAMPLES


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("role", list(ROLES))
def test_every_answer_is_as_documented_for_every_role(
    app, client, world, sign_in, jwks_server, role, mode
):
    known = known_ids(app, client, world, sign_in)
    run = Fuzzing(role, mode)
    hostile = hostile_credentials(app, world, sign_in, jwks_server)
    for operation in operations(app):
        if ROLES[role] is None:
            fuzz(operation, run, hostile, known, examples=anonymous_examples(operation))
        else:
            # A fresh session per operation: fuzzing /auth/logout revokes the one it holds.
            token = sign_in(world.usernames[ROLES[role]]).token
            examples = EXAMPLES if admitted(client, operation, token) else REFUSED
            fuzz(operation, run, [f"Bearer {token}"], known, examples=examples)
    assert run.sent >= EXAMPLES, run.sent
    assert not run.failures, run.report()


# Bodies no JSON parser should take whole, or that are JSON of the wrong shape entirely.
MALFORMED = [
    b"",
    b'{"case_id": ',
    b"\x00",
    b'{"comment": "a\x00b"}',
    b"\xff\xfe{\x00}\x00",
    b"\xef\xbb\xbf{}",
    b'{"a": 1, "a": 2}',
    b"[]",
    b"null",
    b'"just text"',
    b"1e999999",
    b"[" * 100 + b"]" * 100,
    b'{"reason": "\\ud800"}',
]


def test_malformed_json_is_a_documented_refusal_for_every_role(app, client, world, sign_in):
    """Bodies that are not JSON, or not the right JSON, are a documented 4xx, never a 500.

    Every operation taking JSON is sent them (raw NUL, invalid UTF-8, a BOM, a truncated
    object, absurd nesting, an infinite number; also labelled text/plain) by every role its role
    check lets through: a role refused with 403 is refused before the body is read.
    """
    known = known_ids(app, client, world, sign_in)[0]
    schema = load_schema(app)
    failures, taking_json, reached = [], set(), set()
    for operation in operations(app):
        body_types = operation.definition.raw.get("requestBody", {}).get("content", {})
        if "application/json" not in body_types:
            continue
        taking_json.add(operation.label)
        path = operation.path.format(**{k: known[k] for k in known})
        for username in filter(None, ROLES.values()):
            token = sign_in(world.usernames[username]).token
            for body, content_type in [
                *((body, "application/json") for body in MALFORMED),
                (b'{"reason": "x"}', "text/plain"),
                (MALFORMED[1], "application/x-www-form-urlencoded"),
            ]:
                response = client.open(
                    path,
                    method=operation.method.upper(),
                    data=body,
                    content_type=content_type,
                    headers={"Authorization": f"Bearer {token}", "If-Match": '"1"'},
                )
                if response.status_code == 403:
                    break
                reached.add(operation.label)
                try:
                    assert 400 <= response.status_code < 500, response.status_code
                    schema[operation.path][operation.method].validate_response(response)
                except (AssertionError, FailureGroup) as error:
                    failures.append(f"{operation.label} {content_type} {body[:30]!r}: {error}")
    assert reached == taking_json and len(taking_json) > 10, taking_json - reached
    assert not failures, "\n".join(failures[:20])
