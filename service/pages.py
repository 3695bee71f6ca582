"""The page layer: server-rendered pages for the people at desks, beside the API layer.

Supervisors, managers and admins use these in a browser. A page is a view of a
:class:`PageBlueprint` (under ``/desk``): signed in through a session cookie, CSRF-checked on every
form, sent with the security headers, never cached, and rendered with :func:`render`, which audits
what the page shows. Pages call the same operations and the same policy layer as the API. Like
:mod:`service.api`, this module imports no feature: the app factory says who reads the session
cookie (:func:`use_page_authenticator`).
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from service.audit.events import Action, Subject
from service.audit.reads import describe
from service.audit.trail import record
from service.errors import CORRELATION_HEADER, Forbidden, register_error_pages
from service.local_time import local_time

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/desk"
PAGE_AUTHENTICATOR = "service.pages.authenticator"
ROLE_REFUSED = "service.api.role_refused"  # the API's recorder: one record of refusals
csrf = CSRFProtect()

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

NAVIGATION = "service.pages.navigation"


class NotSignedIn(Exception):
    """No page session, or one that has ended (signed out, timed out, revoked, user disabled)."""

    def __init__(self, reason: str = "none") -> None:
        super().__init__(reason)
        self.reason = reason


def use_page_authenticator(app: Flask, authenticate: Callable[[], Any]) -> None:
    """Make ``authenticate`` the check behind ``signin_required``: it returns the signed-in
    user from the session cookie or raises :class:`NotSignedIn`.
    """
    app.extensions[PAGE_AUTHENTICATOR] = authenticate


def _authenticate() -> Any:
    authenticate = current_app.extensions.get(PAGE_AUTHENTICATOR)
    if authenticate is None:  # fail closed
        raise RuntimeError("no page authenticator: create_app must call use_page_authenticator()")
    return authenticate()


class PageBlueprint(Blueprint):
    """A blueprint of desk pages: under ``/desk``, with headers, CSRF and sign-in checks."""

    def __init__(self, name: str, import_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("url_prefix", PREFIX)
        kwargs.setdefault("template_folder", "templates")
        super().__init__(name, import_name, **kwargs)
        self.before_request(_check_csrf)
        self.after_request(_page_headers)

    def in_navigation(self, label: str, *roles: str) -> Callable[[F], F]:
        """List this view in the service navigation, for users of ``roles``."""

        def decorator(view: F) -> F:
            endpoint = f"{self.name}.{view.__name__}"
            self.record_once(
                lambda state: state.app.extensions.setdefault(NAVIGATION, []).append(
                    (label, endpoint, roles)
                )
            )
            return view

        return decorator

    def signin_required(self, *roles: str) -> Callable[[F], F]:
        """Require a signed-in user (else the sign-in page); with ``roles``, one of those (403).

        Sets ``flask.g.user`` as the API's ``login_required`` does, so operations and the
        policy layer work unchanged. Which records a user may see is still the policy's
        question, answered with the 404 page.
        """

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    user = _authenticate()
                except NotSignedIn as ended:
                    return redirect(_sign_in_url(ended.reason))
                if roles and user.role not in roles:
                    recorder = current_app.extensions.get(ROLE_REFUSED)
                    if recorder is not None:
                        recorder(user, view.__name__, kwargs)
                    raise Forbidden("auth.role_forbidden", "Your role cannot see this page.")
                g.user = user
                return view(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorator


def _sign_in_url(reason: str) -> str:
    target = request.full_path if request.method == "GET" else request.path
    query: dict[str, Any] = {"next": target.rstrip("?")}
    if reason in ("timed_out", "revoked"):
        query["ended"] = reason
    return url_for("auth_pages.sign_in", **query)


def _check_csrf() -> None:
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        csrf.protect()


def _page_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _unsafe(text: str) -> bool:
    return "\\" in text or any(ord(char) < 32 or char == "\x7f" for char in text)


def safe_next(target: str | None, default: str | None = None) -> str:
    """A redirect target after sign-in: a path on this site under ``/desk``, never elsewhere.

    Its path is judged as a browser and a server would read it, percent-decoded: no ``.`` or
    ``..`` segment (``/desk/%2e%2e/%2e%2e//evil.com``), no ``//``, no backslash or control
    character.
    """
    fallback = default or f"{PREFIX}/"
    if not target or _unsafe(target):
        return fallback
    path = target.partition("?")[0].partition("#")[0]
    for _ in range(3):  # %252e is %2e once decoded: decode until nothing changes
        path, before = unquote(path), path
        if path == before:
            break
    else:
        return fallback
    if not path.startswith(f"{PREFIX}/") or "//" in path or _unsafe(path):
        return fallback
    if posixpath.normpath(path) != path.rstrip("/"):  # a "." or ".." segment
        return fallback
    return target


def render(
    template: str,
    *,
    status: int = 200,
    shows: Iterable[Any] = (),
    action: Action = Action.READ,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Response:
    """Render ``template`` and audit ``action`` on each record in ``shows``.

    ``shows`` holds what the page shows of child data: models the audit registry describes
    (a visit, a child, a review...) or :class:`Subject` instances. Every page showing child
    data passes it, so the child's access log says who looked, as it does for the API.
    """
    subjects = list(subjects_of(shows))
    if subjects:
        record(action, subjects, page=request.endpoint)
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers.update(headers or {})
    return response


def subjects_of(shown: Iterable[Any]) -> Iterator[Subject]:
    """The audit subjects of what a page shows."""
    for thing in shown:
        if isinstance(thing, Subject):
            yield thing
        else:
            yield from describe(thing)


def download(
    filename: str, chunks: Iterable[Any], mimetype: str, *, stream: bool = False
) -> Response:
    """A file to save (``Content-Disposition: attachment``), never cached; ``stream`` for a
    generator that needs the request (and its database session) while it runs.
    """
    body: Any = stream_with_context(iter(chunks)) if stream else chunks
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(status: int, headers: Mapping[str, str]) -> Response:
    """An error on a desk page, in the desk design; the same status and headers as the API's."""
    page = render_template(
        "desk/error.html", status=status, correlation_id=headers.get(CORRELATION_HEADER)
    )
    response = Response(page, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.headers.update(headers)
    return response


def navigation() -> list[dict[str, Any]]:
    """The navigation links for the signed-in user, the current one marked."""
    user = g.get("user")
    if user is None:
        return []
    links: list[tuple[str, str, tuple[str, ...]]] = current_app.extensions.get(NAVIGATION, [])
    return [
        {"label": label, "href": url_for(endpoint), "current": endpoint == request.endpoint}
        for label, endpoint, roles in links
        if user.role in roles
    ]


def _template_context() -> dict[str, Any]:
    return {"navigation": navigation, "signed_in": g.get("user")}


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, without building the signer for a request that carries
    no session cookie, where Flask's answer is an empty session whatever the signer: every API
    request (the API takes no cookies). Flask builds the signer first, on every request (about
    1% of a visit create's CPU).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session if there is no session cookie; otherwise Flask's."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Bind the session cookies, CSRF protection (checked only where a page blueprint asks: the
    API has none, it takes no cookies) and the desk's error pages.
    """
    app.session_interface = CookieSessions()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    register_error_pages(app, PREFIX, error_page)
    app.context_processor(_template_context)
    app.add_template_filter(local_time, "local_time")
