"""Bad input is a 4xx at the edge (DESIGN.md §9): NUL characters and lone surrogates in any
string the API takes, found by walking the OpenAPI document.

On PostgreSQL a NUL in a text column, or a lone surrogate (not encodable as UTF-8), fails in
the driver: a 500 whose log carried the SQL parameters. Run these with ``DATABASE_URL`` set to
a PostgreSQL database to see that path too (CI does).
"""

import io
import json
import uuid
from urllib.parse import quote

import pytest

from service.cases.models import Case
from service.extensions import db
from tests.api.openapi_walk import (
    concrete,
    dotted,
    json_operations,
    leaves,
    query_parameters,
    set_at,
)
from tests.evidence_files import PDF
from tests.factories import new_id, visit_body

NUL = "before\x00after"
LONE_SURROGATE = "before\ud800after"
UNSTORABLE = {"nul": NUL, "lone_surrogate": LONE_SURROGATE}


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").get_json()


@pytest.fixture
def everyone(world, sign_in):
    """One signed-in session per role, most ordinary first."""
    return [
        sign_in(world.usernames[name]) for name in ("worker_a", "supervisor_a", "manager", "admin")
    ]


def send_json(session, method, path, body):
    # json.dumps writes a lone surrogate as the escape \ud800, as a client's JSON would.
    return session._call(method, path, data=json.dumps(body), content_type="application/json")


def first_allowed(sessions, call):
    """The answer for the first role the endpoint lets in (the body is read after the role)."""
    for session in sessions:
        response = call(session)
        if response.status_code not in (401, 403):
            return response
    raise AssertionError("no role may call this")


def string_fields(doc, schema):
    return [(path, leaf) for path, leaf in leaves(doc, schema) if leaf.get("type") == "string"]


def test_the_walk_reaches_nested_strings(doc):
    """The walk itself: the visit body's deepest strings and list items are found."""
    (visit_schema,) = [s for m, p, s in json_operations(doc) if p == "/api/v1/visits/{visit_id}"]
    paths = {dotted(path) for path, _ in string_fields(doc, visit_schema)}
    assert {
        "children.0.voice.own_words",
        "children.0.voice.scale.question",
        "people_present.0",
        "observations",
    } <= paths
    assert {p for m, p, s in json_operations(doc)} >= {
        "/api/v1/auth/token",
        "/api/v1/sync",
        "/api/v1/visits/{visit_id}/review",
        "/api/v1/feedback/{feedback_id}",
    }


@pytest.mark.parametrize("kind", UNSTORABLE)
def test_every_string_in_every_json_body_refuses_nul_and_lone_surrogates(doc, everyone, kind):
    failures = []
    tried = 0
    for method, path_template, schema in json_operations(doc):
        for path, _ in string_fields(doc, schema):
            body: dict = {}
            set_at(body, path, UNSTORABLE[kind])
            url = concrete(path_template, new_id())
            response = first_allowed(
                everyone, lambda session, u=url, b=body, m=method: send_json(session, m, u, b)
            )
            tried += 1
            answer = response.get_json(silent=True) or {}
            if response.status_code != 422 or dotted(path) not in answer.get("errors", {}):
                failures.append((method, path_template, dotted(path), response.status_code))
    assert tried >= 35  # every body's strings, nested ones included
    assert not failures, failures


def test_every_string_query_parameter_refuses_nul(doc, everyone):
    failures = []
    tried = 0
    for method, path_template, name, schema in query_parameters(doc):
        if schema.get("type") != "string":
            continue
        url = f"{concrete(path_template, new_id())}?{name}={quote(NUL)}"
        response = first_allowed(everyone, lambda session, u=url, m=method: session._call(m, u))
        tried += 1
        errors = (response.get_json(silent=True) or {}).get("errors", {})
        if response.status_code != 422 or f"query.{name}" not in errors:
            failures.append((method, path_template, name, response.status_code))
    assert tried > 10
    assert not failures, failures


def test_the_childs_words_with_nul_are_a_422_at_their_own_path(app, world, worker):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    for bad in (NUL, LONE_SURROGATE):
        body["children"][1]["voice"]["own_words"] = bad
        response = send_json(worker, "PUT", f"/visits/{new_id()}", body)
        assert response.status_code == 422, response.get_json()
        assert response.mimetype == "application/problem+json"
        assert list(response.get_json()["errors"]) == ["children.1.voice.own_words"]
    body["children"][1]["voice"]["own_words"] = "Emoji are fine \U0001f600"  # a proper pair
    assert send_json(worker, "PUT", f"/visits/{new_id()}", body).status_code == 201


@pytest.mark.parametrize("field", ["username", "password", "device_id"])
def test_sign_in_refuses_nul_and_lone_surrogates(client, world, field):
    for bad in (NUL, LONE_SURROGATE):
        body = {"username": world.usernames["worker_a"], "password": "whatever", field: bad}
        response = client.post(
            "/api/v1/auth/token", data=json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 422 and field in response.get_json()["errors"]


def test_a_sync_batch_keeps_the_good_items_and_rejects_each_bad_one(app, doc, world, sign_in):
    """Items are loaded one by one, so every bad string is that item's own rejection."""
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-1")
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(world.case_ids["a1"]))
        good_before, good_after = visit_body(case), visit_body(case)
        template = visit_body(case)
    (visit_schema,) = [s for m, p, s in json_operations(doc) if p == "/api/v1/visits/{visit_id}"]
    bad_items = []
    for path, _ in string_fields(doc, visit_schema):
        for bad in (NUL, LONE_SURROGATE):
            item = json.loads(json.dumps(template))
            set_at(item, path, bad)
            bad_items.append(({**item, "id": new_id()}, dotted(path)))
    items = [
        {**good_before, "id": new_id()},
        *(item for item, _ in bad_items),
        {**good_after, "id": new_id(), "submit": True},
    ]
    response = send_json(tablet, "POST", "/sync", {"device_id": "tablet-1", "visits": items})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["result"] for r in (results[0], results[-1])] == ["created", "created"]
    for result, (_, path) in zip(results[1:-1], bad_items, strict=True):
        assert result["result"] == "rejected" and path in result["errors"], (path, result)
    assert tablet.get(f"/visits/{items[-1]['id']}").get_json()["status"] == "submitted"
    assert tablet.get(f"/visits/{bad_items[0][0]['id']}").status_code == 404


def test_evidence_fields_refuse_nul_in_headers_and_form_fields(app, world, worker):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert send_json(worker, "PUT", f"/visits/{visit_id}", body).status_code == 201
    raw = worker.post(
        f"/visits/{visit_id}/attachments",
        data=PDF,
        content_type="application/pdf",
        headers={
            "X-Attachment-Id": new_id(),
            "X-Attachment-Kind": "document",
            "X-Filename": "bed\x00room.pdf",
        },
    )
    assert raw.status_code == 422 and list(raw.get_json()["errors"]) == ["filename"]
    form = worker.post(
        f"/visits/{visit_id}/attachments",
        data={
            "file": (io.BytesIO(PDF), "bed\x00room.pdf"),
            "attachment_id": new_id(),
            "kind": "document",
        },
        content_type="multipart/form-data",
    )
    assert form.status_code == 422 and "filename" in form.get_json()["errors"]


# --- strict JSON types ------------------------------------------------------------------------

NOT_AN_INTEGER = [7.5, 7.0, "7", True]
NOT_A_BOOLEAN = ["true", 1, 0, "yes"]


def test_integers_and_booleans_in_json_bodies_are_strictly_typed(doc, everyone):
    """A scale score of 7.5 was quietly cut to 7, and "7" read as 7; each is now a 422."""
    wrong = {"integer": NOT_AN_INTEGER, "boolean": NOT_A_BOOLEAN}
    failures = []
    tried = set()
    for method, path_template, schema in json_operations(doc):
        for path, leaf in leaves(doc, schema):
            for value in wrong.get(leaf.get("type"), []):
                body: dict = {}
                set_at(body, path, value)
                url = concrete(path_template, new_id())
                response = first_allowed(
                    everyone, lambda session, u=url, b=body, m=method: send_json(session, m, u, b)
                )
                tried.add(dotted(path))
                errors = (response.get_json(silent=True) or {}).get("errors", {})
                if response.status_code != 422 or dotted(path) not in errors:
                    failures.append((path_template, dotted(path), value, response.status_code))
    assert {"children.0.voice.scale.score", "announced", "valid_days"} <= tried
    assert not failures, failures


def test_sync_items_are_strictly_typed_too(app, world, sign_in):
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-3")
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    items = [{**body, "id": new_id(), "base_version": value} for value in NOT_AN_INTEGER]
    items += [{**body, "id": new_id(), "submit": value} for value in NOT_A_BOOLEAN]
    response = send_json(tablet, "POST", "/sync", {"device_id": "tablet-3", "visits": items})
    results = response.get_json()["results"]
    assert [list(r.get("errors", {})) for r in results] == [["base_version"]] * len(
        NOT_AN_INTEGER
    ) + [["submit"]] * len(NOT_A_BOOLEAN)


def test_query_booleans_are_true_or_false_only(world, worker, sign_in):
    assert worker.get("/cases?overdue=true").status_code == 200
    assert worker.get("/cases?overdue=false").status_code == 200
    for value in ("yes", "1", "on", "True"):
        response = worker.get(f"/cases?overdue={value}")
        assert response.status_code == 422 and "query.overdue" in response.get_json()["errors"]
    manager = sign_in(world.usernames["manager"])
    assert manager.get("/feedback?urgent=true").status_code == 200  # was a 422: flag() wants JSON
    assert manager.get("/feedback?urgent=false").status_code == 200
    assert manager.get("/feedback?urgent=y").status_code == 422
    redirect = worker.get(f"/attachments/{new_id()}/content?redirect=1")
    assert redirect.status_code == 422


# --- absurd nesting --------------------------------------------------------------------------


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


def test_a_body_nested_a_thousand_deep_is_a_400_not_a_recursion_error(client, world, worker):
    for path, method in (
        (f"/visits/{new_id()}", "PUT"),
        ("/sync", "POST"),
        (f"/visits/{new_id()}/review", "POST"),
    ):
        for body in (nested(1000), '{"a":' * 1000 + "1" + "}" * 1000):
            response = worker._call(method, path, data=body, content_type="application/json")
            assert response.status_code == 400, (path, response.get_json())
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["code"] == "request.too_deep"
    # Before sign-in too, and for the +json types.
    response = client.post(
        "/api/v1/auth/token", data=nested(5000), content_type="application/vnd.api+json"
    )
    assert response.status_code == 400 and response.get_json()["code"] == "request.too_deep"


def test_the_bound_is_thirty_two_levels(client):
    ok = client.post("/api/v1/auth/token", data=nested(32), content_type="application/json")
    assert ok.status_code == 422  # parsed: just not a sign-in
    deep = client.post("/api/v1/auth/token", data=nested(33), content_type="application/json")
    assert deep.status_code == 400 and deep.get_json()["code"] == "request.too_deep"


def test_brackets_inside_strings_do_not_count(app, world, worker):
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    body["observations"] = "[{" * 2000 + ' a quote \\" and a backslash \\\\ ' + "]}" * 2000
    body["analysis"] = '"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["'
    response = send_json(worker, "PUT", f"/visits/{new_id()}", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["observations"] == body["observations"]


def test_size_limits_still_apply_and_sync_keeps_its_larger_one(app, world, sign_in, worker):
    padding = " " * (1024 * 1024)
    big_put = worker._call(
        "PUT", f"/visits/{new_id()}", data="{}" + padding, content_type="application/json"
    )
    assert big_put.status_code == 413
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-2")
    batch = json.dumps({"device_id": "tablet-2", "visits": []})
    big_sync = tablet._call("POST", "/sync", data=batch + padding, content_type="application/json")
    assert big_sync.status_code == 200, big_sync.get_json()  # 16 MiB allowed for batches
    deep_sync = tablet._call(
        "POST", "/sync", data=padding + nested(100), content_type="application/json"
    )
    assert deep_sync.status_code == 400 and deep_sync.get_json()["code"] == "request.too_deep"


def test_other_bodies_are_not_scanned_as_json(worker):
    response = worker._call("POST", "/sync", data=nested(1000), content_type="text/plain")
    assert response.status_code != 500


def test_a_number_of_thousands_of_digits_is_a_400_not_a_500(client, worker):
    """int() refuses over 4,300 digits with a ValueError the JSON parser let through (500)."""
    body = '{"username": "a", "password": "b", "device_id": ' + "7" * 5000 + "}"
    response = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["code"] == "request.number_too_long"
    as_text = '{"username": "a", "password": "' + "7" * 5000 + '"}'
    response = client.post("/api/v1/auth/token", data=as_text, content_type="application/json")
    assert response.status_code == 422  # digits in a string are just text (too long a password)


def chunked(client_or_session, method, path, body: bytes, **headers):
    """Send ``body`` as a server does with ``Transfer-Encoding: chunked``: no Content-Length,
    and ``wsgi.input_terminated`` set (gunicorn de-chunks it and marks the stream as ending).
    """
    client = getattr(client_or_session, "client", client_or_session)
    if hasattr(client_or_session, "token"):
        headers["Authorization"] = f"Bearer {client_or_session.token}"
    return client.open(
        path if path.startswith("/api") else f"/api/v1{path}",
        method=method,
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_a_413_not_malformed_json(client, world, sign_in):
    """Werkzeug stops a chunked body at the limit and hands back what it read: truncated JSON,
    which was a 400 request.malformed_json. With a Content-Length it was already a 413.
    """
    body = json.dumps({"username": "a", "password": "b", "pad": "x" * (2 * 1024 * 1024)})
    response = chunked(client, "POST", "/api/v1/auth/token", body.encode())
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["code"] == "request.too_large"
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-2")
    batch = json.dumps({"device_id": "tablet-2", "visits": [], "pad": "x" * (20 * 1024 * 1024)})
    response = chunked(tablet, "POST", "/sync", batch.encode())
    assert response.status_code == 413 and response.get_json()["code"] == "request.too_large"


def test_a_chunked_body_within_the_limit_still_works(client, world, sign_in, app):
    body = json.dumps({"username": world.usernames["worker_a"], "password": "nope"})
    response = chunked(client, "POST", "/api/v1/auth/token", body.encode())
    assert response.status_code == 401, response.get_json()  # read and checked, not refused
    limit = app.config["MAX_CONTENT_LENGTH"]
    exactly = b'{"username": "a", "password": "b"}'
    exactly += b" " * (limit - len(exactly))
    response = chunked(client, "POST", "/api/v1/auth/token", exactly)
    assert response.status_code == 401, response.get_json()  # exactly the limit is allowed
    tablet = sign_in(world.usernames["worker_a"], device_id="tablet-2")
    batch = json.dumps({"device_id": "tablet-2", "visits": []}) + " " * (2 * 1024 * 1024)
    response = chunked(tablet, "POST", "/sync", batch.encode())
    assert response.status_code == 200, response.get_json()  # sync's own larger limit
