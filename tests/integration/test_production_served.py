"""Issue #13 part 5: the app served in production mode, signed in to through the desk form.

Production mode starts only with real secrets, an https public address and the shared (Redis)
limits; the desk's session cookie it then sets is ``Secure``, ``HttpOnly`` and ``SameSite``.
"""

from __future__ import annotations

import base64
import http.client
import urllib.parse

from tests.desk import TOKEN
from tests.factories import PASSWORD
from tests.shared_limits import REDIS_URL, fresh_prefix, instances, redis_or_skip


def production_settings(prefix: str) -> dict[str, str]:
    return {
        "SEEN_HEARD_ENV": "production",
        "SECRET_KEY": "production-test-secret-" + "s" * 40,
        "JWT_SECRET": "production-test-jwt-secret-" + "j" * 40,
        "AUDIT_SIGNING_KEY": base64.b64encode(bytes(range(32))).decode(),
        "PUBLIC_BASE_URL": "https://visits.council.example",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
    }


def request(url: str, method: str, path: str, body: str | None = None, cookie: str = ""):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode()
    finally:
        connection.close()


def cookie_of(headers) -> str:
    (set_cookie,) = [value for name, value in headers if name.lower() == "set-cookie"]
    return set_cookie


def test_the_desk_session_cookie_is_secure_httponly_and_same_site(tmp_path):
    client = redis_or_skip()
    prefix = fresh_prefix()
    database = f"sqlite:///{tmp_path / 'production.db'}"
    with instances(database, tmp_path, production_settings(prefix), count=1) as served:
        username = served.user("supervisor")
        (server,) = served.servers
        status, headers, page = request(server.url, "GET", "/desk/sign-in")
        assert status == 200, served.log()
        match = TOKEN.search(page)
        assert match, page[:500]
        form = urllib.parse.urlencode(
            {
                "username": username,
                "password": PASSWORD,
                "csrf_token": match.group(1),
            }
        )
        first_cookie = cookie_of(headers).split(";", 1)[0]
        status, headers, _ = request(server.url, "POST", "/desk/sign-in", form, first_cookie)
        assert status == 302, served.log()
        attributes = [part.strip().lower() for part in cookie_of(headers).split(";")]
    assert attributes[0].startswith("seen_heard_desk=")
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    client.delete(*client.keys(f"{prefix}:*"))
