"""Helpers for the desk pages through Flask's test client: the CSRF token and signing in."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/desk/sign-in") -> str:
    """The CSRF token a page's forms carry (the session cookie goes with it)."""
    response = client.get(path)
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def desk_sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Sign ``client`` in through the sign-in form; returns the form's response."""
    token = csrf_token(client)
    response = client.post(
        "/desk/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def desk_post(client: FlaskClient, path: str, data: dict[str, Any], form_page: str) -> Any:
    """POST a desk form with the CSRF token from ``form_page``."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, form_page)})
