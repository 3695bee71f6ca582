"""One error shape for the whole service: RFC 9457 ``application/problem+json``.

Domain code raises a :class:`DomainError` subclass with a stable ``code``; HTTP errors from Flask,
webargs and flask-smorest are translated here too. No stack trace or internal message ever reaches
a client: an unexpected error is a 500 problem carrying a correlation id that is in the logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, current_app, has_request_context, json, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from service.extensions import seconds_until_allowed
from storage import StorageError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://seen-and-heard.invalid/problems/"
PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """A refusal the client can act on; subclasses fix the HTTP status."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else {}


class Unauthorized(DomainError):
    """No valid credentials (401)."""

    status = 401
    title = "Not signed in"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(
            code, detail, headers={"WWW-Authenticate": 'Bearer realm="seen-and-heard"'}
        )


class Forbidden(DomainError):
    """Signed in, but the role may not do this (403). Never used to hide a record: that is 404."""

    status = 403
    title = "Not allowed"


class NotFound(DomainError):
    """Missing, or outside the caller's scope: the two are indistinguishable (404)."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The record's state does not allow this, or the id is taken by other content (409)."""

    status = 409
    title = "Conflict"


class TooLarge(DomainError):
    """The request or file is over the limit for what it is (413)."""

    status = 413
    title = "Too large"


class PreconditionFailed(DomainError):
    """``If-Match`` names a version that is no longer current (412)."""

    status = 412
    title = "Precondition failed"


class PreconditionRequired(DomainError):
    """An update was sent without ``If-Match`` (428)."""

    status = 428
    title = "Precondition required"


class ValidationFailed(DomainError):
    """The request is well-formed but breaks a rule; ``errors`` maps field paths to messages."""

    status = 422
    title = "Validation failed"


class TooManyRequests(DomainError):
    """Too many attempts; ``Retry-After`` says when the next one may come (429)."""

    status = 429
    title = "Too many requests"

    def __init__(self, code: str, detail: str, retry_after: int) -> None:
        super().__init__(code, detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(DomainError):
    """A dependency (database, evidence store) is down; try again later (503)."""

    status = 503
    title = "Service unavailable"

    def __init__(self, code: str, detail: str, retry_after: int = 30) -> None:
        super().__init__(code, detail, headers={"Retry-After": str(retry_after)})


class InsufficientStorage(DomainError):
    """The evidence store is full; nothing was kept, and a retry works once space is freed (507)."""

    status = 507
    title = "Insufficient storage"

    def __init__(self, code: str, detail: str, retry_after: int = 300) -> None:
        super().__init__(code, detail, headers={"Retry-After": str(retry_after)})


ErrorPageRenderer = Callable[[int, Mapping[str, str]], Response]
"""Renders an error as a page: ``render(status, headers) -> Response``, keeping both."""

ERROR_PAGES = "service.errors.error_pages"


@dataclass(frozen=True)
class ErrorPages:
    """Requests that ``matches`` accepts get their errors rendered by ``render``."""

    matches: Callable[[Request], bool]
    render: ErrorPageRenderer


def under_path(prefix: str) -> Callable[[Request], bool]:
    """A request predicate: the path is ``prefix`` or below it (``/feedback``, ``/feedback/x``)."""
    prefix = prefix.rstrip("/")

    def matches(candidate: Request) -> bool:
        return candidate.path == prefix or candidate.path.startswith(prefix + "/")

    return matches


def register_error_pages(
    app: Flask, matches: str | Callable[[Request], bool], render: ErrorPageRenderer
) -> None:
    """Render errors of the requests ``matches`` accepts (or under that path) with ``render``.

    For server-rendered pages: a feature registers its own at app init, so a person sees an
    error page in the page's design and language rather than problem+json. The first
    registration that matches a request wins.
    """
    predicate = under_path(matches) if isinstance(matches, str) else matches
    app.extensions.setdefault(ERROR_PAGES, []).append(ErrorPages(predicate, render))


CORRELATION_HEADER = "X-Correlation-Id"


def error_page_renderer() -> ErrorPageRenderer | None:
    """The renderer registered for this request, if it is for a page; ``None`` for the API."""
    if not has_request_context():
        return None
    pages: list[ErrorPages] = current_app.extensions.get(ERROR_PAGES, [])
    return next((page.render for page in pages if page.matches(request)), None)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response, or the error page registered for this request's page.

    Every handler ends here, after logging what it must, so a page gets the same status and
    headers as the API would, in the page's own design and language.
    """
    render_page = error_page_renderer()
    if render_page is not None:
        return render_page(status, headers or {})
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into ``{"children.0.seen": ["..."]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": list(messages)}
    return {prefix or "_body": [str(messages)]}


def _request_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten webargs messages; body fields lose the ``json`` prefix, others keep theirs."""
    messages = data.get("errors") or data.get("messages") or {}
    flat: dict[str, list[str]] = {}
    for location, fields in messages.items():
        flat.update(flatten_errors(fields, "" if location == "json" else location))
    return flat


_HTTP_CODES = {
    400: ("request.malformed", "Bad request"),
    401: ("auth.required", "Not signed in"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition_failed", "Precondition failed"),
    413: ("request.too_large", "Request too large"),
    415: ("request.unsupported_media_type", "Unsupported media type"),
    422: ("request.invalid", "Validation failed"),
    428: ("precondition_required", "Precondition required"),
    429: ("rate_limited", "Too many requests"),
}


def http_exception_problem(error: HTTPException) -> Response:
    """Translate a werkzeug/webargs/flask-smorest HTTP exception into a problem."""
    status = error.code or 500
    if status >= 500:
        return internal_error_problem(getattr(error, "original_exception", None) or error)
    code, title = _HTTP_CODES.get(status, ("http_error", error.name))
    data = getattr(error, "data", None) or {}
    errors = _request_errors(data) if status in (400, 422) and data else None
    detail = data.get("message") or error.description
    if status == 400 and errors and errors.get("_body") == ["Invalid JSON body."]:
        code, detail, errors = "request.malformed_json", "The request body is not valid JSON.", None
    elif status == 422:
        detail = "Some fields are missing or not valid; see errors."
    elif status == 413:
        detail = "The request body is larger than this endpoint accepts."
    elif status == 429:
        detail = "Too many attempts from this address; try again after Retry-After seconds."
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_headers():
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
    if status == 429:
        headers.setdefault("Retry-After", str(seconds_until_allowed() or 60))
    return problem(status, code, title, detail, errors=errors, headers=headers)


def internal_error_problem(error: BaseException) -> Response:
    """Log an unexpected error under a fresh correlation id and answer a bare 500 problem.

    The id is in the body and in the ``X-Correlation-Id`` header, so an error page (which gets
    the status and headers) can show it too.
    """
    correlation_id = uuid.uuid4().hex
    log.error("unhandled error, correlation_id=%s", correlation_id, exc_info=error)
    return problem(
        500,
        "internal_error",
        "Internal error",
        "Something went wrong on our side. Quote the correlation id if you report it.",
        headers={CORRELATION_HEADER: correlation_id},
        correlation_id=correlation_id,
    )


def database_unavailable_problem(error: BaseException) -> Response:
    """The database could not be reached: 503 with Retry-After, nothing was stored."""
    log.error("database unavailable: %s", type(error).__name__)
    return problem(
        503,
        "service.database_unavailable",
        "Service unavailable",
        "The records database cannot be reached just now; nothing was saved. Try again shortly.",
        headers={"Retry-After": "30"},
    )


def domain_error_problem(error: DomainError) -> Response:
    """Render a :class:`DomainError`."""
    return problem(
        error.status,
        error.code,
        error.title,
        error.detail,
        errors=error.errors,
        headers=error.headers,
    )


def storage_unavailable_problem(error: BaseException) -> Response:
    """The evidence store failed outside an upload: 503 with Retry-After."""
    log.error("evidence store unavailable: %s", error)
    return problem(
        503,
        "evidence.store_unavailable",
        "Service unavailable",
        "Evidence cannot be stored or read just now. Try again shortly.",
        headers={"Retry-After": "30"},
    )


def init_app(app: Flask) -> None:
    """Register the handlers (HTTPException is handled through the Api subclass)."""
    app.register_error_handler(StorageError, storage_unavailable_problem)
    app.register_error_handler(DomainError, domain_error_problem)
    app.register_error_handler(OperationalError, database_unavailable_problem)
    app.register_error_handler(Exception, internal_error_problem)
