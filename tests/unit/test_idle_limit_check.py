"""flask-limiter's per-request check is taken off only while no limit could need it: every
limit here is a route's own, checked in the route's wrapper. Any application, default,
blueprint, meta or fallback limit keeps it on.
"""

import pytest
from flask import Flask

from service.extensions import limiter, skip_idle_limit_check


def _app_with_the_check() -> Flask:
    app = Flask(__name__)

    def ours() -> None:
        return None

    app.before_request(ours)
    app.before_request(limiter._check_request_limit)
    return app


def test_the_check_goes_when_only_routes_have_limits():
    app = _app_with_the_check()
    skip_idle_limit_check(app)
    hooks = app.before_request_funcs[None]
    assert [hook.__name__ for hook in hooks] == ["ours"]


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        ("manager", "_application_limits"),
        ("manager", "_default_limits"),
        ("manager", "_blueprint_limits"),
        ("limiter", "_meta_limits"),
        ("limiter", "_in_memory_fallback"),
    ],
)
def test_the_check_stays_when_any_other_limit_is_set(monkeypatch, owner, name):
    target = limiter.limit_manager if owner == "manager" else limiter
    monkeypatch.setattr(target, name, ["a limit"])
    app = _app_with_the_check()
    skip_idle_limit_check(app)
    assert limiter._check_request_limit in app.before_request_funcs[None]


def test_the_check_stays_if_flask_limiter_is_not_as_expected(monkeypatch):
    monkeypatch.delattr(limiter, "_meta_limits")
    app = _app_with_the_check()
    skip_idle_limit_check(app)
    assert limiter._check_request_limit in app.before_request_funcs[None]


def test_the_app_runs_without_it_and_sign_in_is_still_limited(app, client, monkeypatch):
    assert limiter._check_request_limit not in app.before_request_funcs[None]
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    body = {"username": "idle-limit-check", "password": "wrong"}
    answers = [
        client.post("/api/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": "127.0.0.77"})
        for _ in range(3)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 429]
