"""The tablet app as served: its page under a strict policy, its manifest, and a service worker
whose precache list names files that exist, with revisions that change when a file does.
"""

from __future__ import annotations

import json
import re

from service.tablet.shell import build_shell


def served(client, url: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``url`` answers 200 (the response closed: static files are open files)."""
    response = client.get(url)
    response.close()
    return response.status_code == 200  # type: ignore[no-any-return]


def test_the_app_page_is_served_under_a_strict_policy(client):
    page = client.get("/app/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'none'" in policy
    assert "microphone=(self)" in page.headers["Permissions-Policy"]
    assert "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    assert "<script>" not in html and " style=" not in html  # nothing inline
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from elsewhere
    assert client.get("/app").headers["Location"].endswith("/app/")


def test_the_manifest_makes_the_app_installable(client):
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = json.loads(manifest.get_data())
    assert body["start_url"] == "/app/" and body["scope"] == "/app/"
    assert body["display"] == "standalone"
    for icon in body["icons"]:
        assert served(client, icon["src"])


def test_the_service_worker_precaches_files_that_exist(client):
    worker = client.get("/app/sw.js")
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/app/"
    script = worker.get_data(as_text=True)
    assert "storage.googleapis.com" not in script  # Workbox from our own /static
    precache = json.loads(re.search(r"const SHELL = (\[.*?\]);", script, re.S).group(1))
    assert {entry["url"] for entry in precache} >= {"/app/", "/static/app/main.js"}
    for entry in precache:
        assert served(client, entry["url"]), entry["url"]
    version = client.get("/app/version.json").get_json()["version"]
    assert f"APP_VERSION = '{version}'" in script


def test_a_changed_file_makes_a_new_version():
    def url(name: str) -> str:
        return f"/static/{name}"

    one = build_shell(b"<html>one</html>", b"{}", url)
    two = build_shell(b"<html>two</html>", b"{}", url)
    assert one.version != two.version
    assert one.entries[1:] == two.entries[1:] and one.entries[0] != two.entries[0]
