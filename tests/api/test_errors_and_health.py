"""The error shape, the probes and the API description."""

import logging

from sqlalchemy.exc import OperationalError

PROBLEM_KEYS = {"type", "title", "status", "code"}
PROBLEM = "application/problem+json"


def test_unknown_route_is_a_problem(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert PROBLEM_KEYS <= set(response.get_json())


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/me")
    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_bare_500_with_a_logged_correlation_id(
    app, client, caplog, monkeypatch
):
    from service.auth import routes

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(routes.operations, "login", explode)
    with caplog.at_level(logging.ERROR):
        response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    body = response.get_json()
    assert response.status_code == 500 and body["code"] == "internal_error"
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert body["correlation_id"] in caplog.text


def test_database_down_is_503_with_retry_after(client, monkeypatch):
    from service.auth import routes

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(routes.operations, "login", down)
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["code"] == "service.database_unavailable"


def test_liveness_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def test_readiness_fails_when_the_database_is_unreachable(tmp_path):
    from service import create_app

    broken = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    response = broken.test_client().get("/readyz")
    assert (
        response.status_code == 503 and response.get_json()["checks"]["database"] == "unavailable"
    )


def test_openapi_document_describes_every_view(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"] == "Seen and Heard API"
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("description") or operation.get("summary"), (method, path)
    visit_put = spec["paths"]["/api/v1/visits/{visit_id}"]["put"]
    assert {"201", "412", "422", "428"} <= set(visit_put["responses"])


def test_docs_page_loads_its_assets_locally(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.get_data()
    asset.close()


def test_error_pages_render_the_errors_of_the_requests_they_registered():
    from flask import Flask, Response

    from service.errors import problem, register_error_pages

    def page(name):
        def render(status, headers):
            return Response(
                f"{name} {status}", status=status, headers=headers, mimetype="text/html"
            )

        return render

    app = Flask(__name__)
    register_error_pages(app, "/pages/", page("pages"))
    register_error_pages(app, lambda request: request.path.startswith("/pages/x"), page("later"))
    register_error_pages(app, lambda request: request.args.get("as") == "page", page("asked"))
    expected = {
        "/pages": "pages 429",
        "/pages/x": "pages 429",  # the first registration that matches wins
        "/other?as=page": "asked 429",
    }
    for path, text in expected.items():
        with app.test_request_context(path):
            response = problem(
                429, "rate_limited", "Too many requests", headers={"Retry-After": "9"}
            )
        assert response.get_data(as_text=True) == text, path
        assert response.status_code == 429 and response.headers["Retry-After"] == "9"
    for path in ("/pagesx", "/api/v1/pages", "/other"):
        with app.test_request_context(path):
            response = problem(404, "not_found", "Not found")
        assert response.mimetype == "application/problem+json", path
    with app.app_context():  # outside a request (a CLI command): always a problem
        assert problem(500, "internal_error", "Internal error").mimetype == PROBLEM


def test_the_feedback_pages_render_their_own_errors(client):
    response = client.get("/feedback/no-such-page?lang=cy")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert 'lang="cy"' in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/api/v1/feedback/no-such").mimetype == PROBLEM


def test_login_required_fails_closed_without_an_authenticator():
    import pytest
    from flask import Flask

    from service.api import _authenticate, use_authenticator

    app = Flask(__name__)
    with app.app_context(), pytest.raises(RuntimeError):
        _authenticate()
    use_authenticator(app, lambda: "the user")
    with app.app_context():
        assert _authenticate() == "the user"


def _responses(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                yield f"{method.upper()} {path} {status}", status, response


def test_every_error_is_documented_as_a_problem(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    problem_schema = {"$ref": "#/components/schemas/Problem"}
    errors = [(where, response) for where, status, response in _responses(spec) if status >= "4"]
    assert len(errors) > 100
    for where, response in errors:
        assert response["content"] == {PROBLEM: {"schema": problem_schema}}, where
    assert not [where for where, status, _ in _responses(spec) if status == "default"]
    visit = spec["paths"]["/api/v1/visits/{visit_id}"]
    assert {"400", "404", "413", "5XX"} <= set(visit["put"]["responses"])
    assert "400" not in visit["get"]["responses"]  # no body, so no malformed body
    assert "404" not in spec["paths"]["/api/v1/visits"]["get"]["responses"]


def _null_allowed(prop):
    """Whether a property of the document admits null (OpenAPI 3.0: ``nullable``)."""
    if prop.get("nullable"):
        return True
    return any(
        branch.get("nullable") and branch.get("enum") == [None] for branch in prop.get("anyOf", [])
    )


def _check_nullable(field, prop, where):
    from marshmallow import fields

    assert _null_allowed(prop) == field.allow_none, where
    if isinstance(field, fields.List):
        _check_nullable(field.inner, prop["items"], f"{where}[]")
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        _check_nullable(field.value_field, prop["additionalProperties"], f"{where}{{}}")


def test_fields_that_can_be_null_are_nullable_in_the_document(client):
    import importlib
    import inspect
    import pkgutil

    from marshmallow import Schema

    import api_schemas

    components = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    checked = 0
    for module_info in pkgutil.iter_modules(api_schemas.__path__):
        module = importlib.import_module(f"api_schemas.{module_info.name}")
        for _, schema in inspect.getmembers(module, inspect.isclass):
            name = schema.__name__.removesuffix("Schema")
            if not issubclass(schema, Schema) or name not in components:
                continue
            properties = components[name].get("properties", {})
            for field_name, field in schema().fields.items():
                key = field.data_key or field_name
                if key in properties:
                    _check_nullable(field, properties[key], f"{name}.{key}")
                    checked += field.allow_none
    assert checked > 40


def test_readiness_reports_the_shared_rate_limit_store_without_counting_it(app, tmp_path):
    from service import create_app
    from tests.s3server import free_port
    from tests.shared_limits import REDIS_URL, redis_or_skip

    redis_or_skip()
    settings = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "EVIDENCE_STORE": f"file://{tmp_path}",
    }
    reachable = create_app({**settings, "RATELIMIT_STORAGE_URI": REDIS_URL})
    ready = reachable.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["rate_limit_store"] == "ok"
    gone = f"redis://127.0.0.1:{free_port()}/5"
    down = create_app({**settings, "RATELIMIT_STORAGE_URI": gone})
    ready = down.test_client().get("/readyz")
    # Without Redis each process counts sign-ins alone; nobody is refused, so still ready.
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["rate_limit_store"] == "unavailable"
