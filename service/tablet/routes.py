"""The tablet app's page, service worker and manifest, under ``/app``.

The app itself is static files (``service/static/app``, with its libraries vendored in
``service/static/vendor``); it talks to the API like any other client. Here we serve its one
page and, generated from the shell's file list, the service worker that keeps it for offline use.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, url_for

from service.pages import SECURITY_HEADERS
from service.tablet.shell import Shell, build_shell

blp = Blueprint("tablet", __name__, url_prefix="/app")

SHELL = "service.tablet.shell"
# The desk pages' policy, opened only as far as the app needs: photos and recordings it shows
# from blob: URLs before they are uploaded, and the camera and microphone for this origin.
APP_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; font-src 'self'; connect-src 'self'; worker-src 'self'; "
        "manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
    # Always asked afresh (the service worker answers offline); never stored by the HTTP cache.
    "Cache-Control": "no-cache, no-store",
}

MANIFEST = {
    "name": "Seen and Heard",
    "short_name": "Seen and Heard",
    "description": "Record a home visit to a child: seen, seen alone, and the child's own words.",
    "start_url": "/app/",
    "scope": "/app/",
    "display": "standalone",
    "orientation": "any",
    "background_color": "#ffffff",
    "theme_color": "#1d70b8",
}


def _index_page() -> bytes:
    return render_template("tablet/index.html").encode()


def _manifest() -> bytes:
    icons = [
        {
            "src": url_for("static", filename=f"govuk/assets/images/govuk-icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
        }
        for size in (192, 512)
    ]
    return json.dumps({**MANIFEST, "icons": icons}, indent=2).encode()


def _shell() -> Shell:
    """The shell, built once per process (its files do not change under a running server)."""
    shell: Shell | None = current_app.extensions.get(SHELL)
    if shell is None:
        shell = build_shell(
            _index_page(), _manifest(), lambda name: url_for("static", filename=name)
        )
        current_app.extensions[SHELL] = shell
    return shell


def _answer(body: bytes | str, mimetype: str, **headers: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers.update(APP_HEADERS)
    response.headers.update(headers)
    return response


@blp.get("")
def to_the_app() -> Any:
    """``/app`` without its slash: the app lives at ``/app/``."""
    return redirect(url_for("tablet.index"))


@blp.get("/")
def index() -> Response:
    """The app's one page; everything else is drawn by its scripts, from IndexedDB when offline."""
    return _answer(_index_page(), "text/html")


@blp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest, so the app can be installed on a tablet's home screen."""
    return _answer(_manifest(), "application/manifest+json")


@blp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, scoped to ``/app/``: the shell's files and the version they make."""
    shell = _shell()
    precache = [{"url": url, "revision": revision} for url, revision in shell.entries]
    script = render_template(
        "tablet/sw.js",
        version=shell.version,
        precache=json.dumps(precache, indent=1),
        workbox=url_for("static", filename="vendor/workbox/"),
    )
    return _answer(script, "text/javascript", **{"Service-Worker-Allowed": "/app/"})


@blp.get("/version.json")
def version() -> Response:
    """The app version this server holds, for the app's own check beside its service worker."""
    return _answer(json.dumps({"version": _shell().version}), "application/json")
