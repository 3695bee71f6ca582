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
import requests
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
    screenshot(tab, "oidc-sign-in-page")
    assert serious_violations(tab) == []


def test_an_account_with_no_mapped_role_gets_the_403_page(tab):
    with tab.expect_response(lambda reply: CALLBACK_PATH in reply.url) as callback:
        sign_in_at_council(tab, "nobody")
    assert callback.value.status == 403
    assert "has no role in this service" in tab.content()
    screenshot(tab, "oidc-no-role")
    assert serious_violations(tab) == []


def callback_from_elsewhere(council: Council, login: str) -> str:
    """A real callback address (fresh code and state) for a sign-in another browser started."""
    other = requests.Session()
    started = other.get(f"{council.url}/desk/sign-in/oidc", allow_redirects=False, timeout=10)
    return council.provider.sign_in(started.headers["Location"], login, council.url + CALLBACK_PATH)


def test_a_tampered_or_foreign_state_is_refused(tab, council):
    # This browser starts a sign-in of its own and waits at the provider's form...
    tab.goto("/desk/sign-in")
    tab.get_by_role("button", name="Sign in with North Council").click()
    tab.wait_for_selector("input[name=login]")
    # ...and is sent a callback with someone else's code: with its state as issued, and altered.
    foreign = urlsplit(callback_from_elsewhere(council, "manager.mallory"))
    params = {key: values[0] for key, values in parse_qs(foreign.query).items()}
    for state in (params["state"], params["state"][:-3] + "xyz"):
        answer = tab.goto(f"{CALLBACK_PATH}?{urlencode({**params, 'state': state})}")
        assert answer is not None and answer.status == 400
        assert "was not started here" in tab.content()
    screenshot(tab, "oidc-tampered-state")
    assert serious_violations(tab) == []
    with council.app.app_context():
        assert db.session.scalar(select(User).where(User.username == "manager.mallory")) is None


def test_the_provider_down_gives_the_503_page(tab, council):
    council.provider.stop()
    try:
        tab.goto("/desk/sign-in")
        with tab.expect_navigation() as navigation:
            tab.get_by_role("button", name="Sign in with North Council").click()
        assert navigation.value is not None and navigation.value.status == 503
        assert "cannot be reached" in tab.content()
        screenshot(tab, "oidc-provider-down")
    finally:
        council.provider.start()
