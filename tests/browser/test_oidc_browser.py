"""'Sign in with North Council' in headless Chromium, against a real OpenID provider.

The provider is oidc-provider on loopback (tests/identity_provider.py) with its development login
form; the app is served on a port chosen first, so the callback address registered with the
provider is the one the app sends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from service import create_app
from service.auth.models import User
from service.extensions import db
from tests.browser.conftest import screenshot, serious_violations
from tests.identity_provider import IdentityProvider, desk_client, desk_settings
from tests.s3server import free_port

SECRET = "desk-client-secret-for-browser-tests"
CALLBACK_PATH = "/desk/sign-in/oidc/callback"


@dataclass
class Council:
    """The served app (``url``), its own Flask app and the council's provider."""

    url: str
    app: Flask
    provider: IdentityProvider


@pytest.fixture(scope="module")
def council(app: Flask) -> Iterator[Council]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = IdentityProvider(
        [desk_client("desk", SECRET, url + CALLBACK_PATH)], first_party=["desk"]
    ).start()
    served = create_app(
        desk_settings(app.config, provider, service_url=url, client_id="desk", secret=SECRET)
    )
    server = make_server("127.0.0.1", port, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Council(url=url, app=served, provider=provider)
    finally:
        server.shutdown()
        provider.stop()


@pytest.fixture
def tab(browser, council: Council):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=council.url)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in_at_council(tab, login: str, *, shot: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """From our sign-in page: the council's button, then the provider's form."""
    tab.goto("/desk/sign-in")
    tab.get_by_role("button", name="Sign in with North Council").click()
    tab.wait_for_selector("input[name=login]")
    if shot:
        screenshot(tab, shot)
    tab.fill("input[name=login]", login)
    tab.fill("input[name=password]", "any password")
    tab.get_by_role("button", name="Sign-in").click()
    tab.wait_for_load_state()


def test_a_supervisor_signs_in_with_the_council_and_lands_on_the_desk(tab, council):
    sign_in_at_council(tab, "supervisor.north", shot="oidc-provider-login")
    assert urlsplit(tab.url).path == "/desk/"
    assert "Supervisor North" in tab.content()
    screenshot(tab, "oidc-signed-in-home")
    assert serious_violations(tab) == []
    with council.app.app_context():
        user = db.session.scalar(select(User).where(User.username == "supervisor.north"))
        assert user is not None and user.role == "supervisor"


def test_the_sign_in_page_offers_the_council_button(tab):
    tab.goto("/desk/sign-in")
    button = tab.get_by_role("button", name="Sign in with North Council")
    assert button.is_visible()
    assert serious_violations(tab) == []


def test_an_account_with_no_mapped_role_gets_the_403_page(tab):
    sign_in_at_council(tab, "nobody")
    assert "has no role in this service" in tab.content()
    screenshot(tab, "oidc-no-role")
    assert serious_violations(tab) == []


def test_a_tampered_state_is_refused(tab, council):
    tab.goto("/desk/sign-in")
    captured: list[str] = []
    tab.route(
        f"{council.url}{CALLBACK_PATH}*",
        lambda route: (captured.append(route.request.url), route.abort()),
    )
    tab.get_by_role("button", name="Sign in with North Council").click()
    tab.wait_for_selector("input[name=login]")
    tab.fill("input[name=login]", "supervisor.north")
    tab.fill("input[name=password]", "any password")
    tab.get_by_role("button", name="Sign-in").click()
    tab.wait_for_timeout(500)
    tab.unroute(f"{council.url}{CALLBACK_PATH}*")
    assert captured, "the provider never sent the browser back"
    params = {key: values[0] for key, values in parse_qs(urlsplit(captured[0]).query).items()}
    params["state"] = "forged-" + params["state"]
    answer = tab.goto(f"{CALLBACK_PATH}?{urlencode(params)}")
    assert answer is not None and answer.status == 400
    assert "was not started here" in tab.content()


def test_the_provider_down_gives_the_503_page(tab, council):
    council.provider.stop()
    try:
        tab.goto("/desk/sign-in")
        tab.get_by_role("button", name="Sign in with North Council").click()
        tab.wait_for_load_state()
        assert "cannot be reached" in tab.content()
        screenshot(tab, "oidc-provider-down")
    finally:
        council.provider.start()
