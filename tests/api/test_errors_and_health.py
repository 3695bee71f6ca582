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
