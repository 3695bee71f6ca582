"""Fuzzing from the OpenAPI document: no request gets a 500, and every answer is as documented.

Schemathesis generates valid and invalid requests for every operation in
``/api/v1/openapi.json`` and sends them through the WSGI app. Every response must be no server
error, have a documented status code and content type and match the documented schema (errors
are problem+json); invalid data must be refused. A second pass makes real records (a visit
with a child not seen, evidence, a review, feedback) and reads them as each role, so the shapes
of full answers are checked too, not only those of refusals.
"""

import os
import re
import uuid
from collections import Counter
from datetime import date, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from service.cases.models import Case, Child
from service.extensions import db
from tests.evidence_files import png_with_text
from tests.factories import new_id, visit_body

EXAMPLES_PER_MODE = int(os.environ.get("FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


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
    return [result.ok() for result in load_schema(app).get_all_operations()]


def fuzz(operation, mode, headers, failures, path_parameters=None, examples=EXAMPLES_PER_MODE):
    """Send generated requests for one operation; record every check that fails."""
    fixed = {
        parameter.name: path_parameters[parameter.name]
        for parameter in operation.path_parameters
        if parameter.name in (path_parameters or {})
    }

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        sent = {**(case.headers or {}), **headers}
        response = case.call(headers=sent)
        try:
            case.validate_response(response, checks=CHECKS, headers=sent)
        except FailureGroup as group:
            where = f"{case.method} {case.path} {response.status_code}"
            failures.extend((where, failure.title, failure.message) for failure in group.exceptions)

    try:
        send()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, no body) once the test supplies the token.
        assert mode == GenerationMode.NEGATIVE, operation.label


def summary(failures):
    kinds = Counter((where, title) for where, title, _ in failures)
    first = {(where, title): message for where, title, message in reversed(failures)}
    return "\n".join(f"{n}x {w} {t}\n{first[(w, t)][:800]}" for (w, t), n in kinds.most_common())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_answer_is_as_documented(app, world, sign_in, mode):
    failures = []
    for operation in operations(app):
        # A fresh session per operation: fuzzing /auth/logout revokes the one it holds.
        token = sign_in(world.usernames["worker_a"]).token
        fuzz(operation, mode, {"Authorization": f"Bearer {token}"}, failures)
    assert not failures, summary(failures)


def conforming(schema, method, template, response, status):
    """``response``, once it has ``status`` and matches what the document says of it."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    schema[f"/api/v1{template}"][method].validate_response(response)
    return response


def visits(app, world, worker, supervisor, schema):
    """A returned visit (a child not seen, a photo, a review), one awaiting review, a draft."""
    with app.app_context():
        returned, waiting, draft = (
            visit_body(db.session.get(Case, uuid.UUID(world.case_ids[key])))
            for key in ("a1", "a2", "a2")
        )
    not_seen = returned["children"][1]["child_id"]
    returned["children"][1] = {"child_id": not_seen, "seen": False, "not_seen_reason": "no_access"}
    draft.update(
        ended_at=None, observations=None, children=[{"child_id": world.child_ids["a2"][0]}]
    )
    ids = {"returned": new_id(), "waiting": new_id(), "draft": new_id(), "photo": new_id()}
    for key, body in (("returned", returned), ("waiting", waiting), ("draft", draft)):
        conforming(
            schema, "PUT", "/visits/{visit_id}", worker.put(f"/visits/{ids[key]}", json=body), 201
        )
    photo = worker.post(
        f"/visits/{ids['returned']}/attachments",
        data=png_with_text(),
        content_type="image/png",
        headers={"X-Attachment-Id": ids["photo"], "X-Attachment-Kind": "photo"},
    )
    conforming(schema, "POST", "/visits/{visit_id}/attachments", photo, 201)
    etags = {}
    next_week = (date.today() + timedelta(days=7)).isoformat()
    for key in ("returned", "waiting"):
        submitted = worker.post(f"/visits/{ids[key]}/submit")
        etags[key] = conforming(
            schema, "POST", "/visits/{visit_id}/submit", submitted, 200
        ).headers["ETag"]
    review = supervisor.post(
        f"/visits/{ids['returned']}/review",
        json={
            "decision": "return",
            "comment": "Say more about the bedroom.",
            "management_decision": {"action": "Revisit unannounced", "due_by": next_week},
        },
        headers={"If-Match": etags["returned"]},
    )
    conforming(schema, "POST", "/visits/{visit_id}/review", review, 201)
    return ids


def feedback(app, client, worker, manager, child_id, schema):
    """An invite for a care leaver, and one answered form; returns the answer's id."""
    with app.app_context():
        db.session.get(Child, uuid.UUID(child_id)).plan_type = "care_leaver"
        db.session.commit()
    invite = worker.post("/feedback/invites", json={"child_id": child_id})
    conforming(schema, "POST", "/feedback/invites", invite, 201)
    page = client.get("/feedback").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answers = {"life_satisfaction": "7", "worthwhile": "8", "happy_yesterday": "6"}
    sent = client.post("/feedback", data={"csrf_token": token, "anxious_yesterday": "3", **answers})
    assert sent.status_code == 302
    (answer,) = manager.get("/feedback").get_json()
    return answer["id"]


def test_answers_about_real_records_are_as_documented(app, client, world, sign_in):
    schema = load_schema(app)
    worker = sign_in(world.usernames["worker_a"], device_id="tablet-1")
    supervisor, manager = (sign_in(world.usernames[key]) for key in ("supervisor_a", "manager"))
    ids = visits(app, world, worker, supervisor, schema)
    child_id = world.child_ids["a1"][0]
    path_parameters = {
        "visit_id": ids["returned"],
        "number": 1,
        "attachment_id": ids["photo"],
        "case_id": world.case_ids["a1"],
        "child_id": child_id,
        "feedback_id": feedback(app, client, worker, manager, child_id, schema),
    }
    failures = []
    readings = [operation for operation in operations(app) if operation.method.upper() == "GET"]
    for reader in (worker, supervisor, manager):
        for operation in readings:
            fuzz(
                operation,
                GenerationMode.POSITIVE,
                {"Authorization": f"Bearer {reader.token}"},
                failures,
                path_parameters=path_parameters,
                examples=max(EXAMPLES_PER_MODE // 3, 5),
            )
    assert not failures, summary(failures)
