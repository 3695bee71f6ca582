"""What the fuzz test (tests/api/test_fuzz.py) found, each kept as a plain regression test."""

import json
import uuid

import jsonschema
import pytest

from service.cases.models import Case
from service.extensions import db
from tests.factories import new_id, visit_body


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_x_pagination_is_documented_as_the_json_text_it_is(doc, worker):
    """It was documented with ``schema: object``, which in OpenAPI's ``simple`` header style
    means ``total,2,page,1``: a client following the document could not read the header.
    """
    header = doc["components"]["headers"]["PAGINATION"]
    assert "schema" not in header
    schema = header["content"]["application/json"]["schema"]
    response = worker.get("/cases")
    assert response.status_code == 200
    metadata = json.loads(response.headers["X-Pagination"])
    jsonschema.validate(metadata, {**schema, "components": doc["components"]})
    assert metadata["total"] == 2
    for path in ("/cases", "/visits", "/devices", "/audit"):
        documented = doc["paths"][f"/api/v1{path}"]["get"]["responses"]["200"]["headers"]
        assert documented["X-Pagination"] == {"$ref": "#/components/headers/PAGINATION"}


@pytest.mark.parametrize(
    ("method", "action"), [("POST", "submit"), ("POST", "amend"), ("DELETE", None)]
)
def test_if_match_star_is_a_documented_428(app, doc, world, worker, method, action):
    """``If-Match: *`` names no version, so it is refused with 428, which the document did
    not list for submit, amend and delete.
    """
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    path = f"/visits/{visit_id}" + (f"/{action}" if action else "")
    extra = {"json": {"reason": "A date was wrong."}} if action == "amend" else {}
    response = worker._call(method, path, headers={"If-Match": "*"}, **extra)
    assert response.status_code == 428
    assert response.mimetype == "application/problem+json"
    template = "/api/v1/visits/{visit_id}" + (f"/{action}" if action else "")
    operation = doc["paths"][template][method.lower()]
    assert "428" in operation["responses"]
    assert "If-Match" in [parameter.get("name") for parameter in operation["parameters"]]


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_a_care_leavers_post_too_large_to_read_is_a_413_page(client, lang):
    """The error page looked for ``lang`` in the body too, which reading a body over
    MAX_CONTENT_LENGTH refuses: the 413 became a 500 (found by tests/api/test_feedback_fuzz.py).
    """
    response = client.post(
        f"/feedback?lang={lang}",
        data={"anything_else": "a" * 1_100_000},
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert f'lang="{lang}"' in response.get_data(as_text=True)
