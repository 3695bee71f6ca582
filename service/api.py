"""The API layer: the flask-smorest Api and Blueprint subclasses, and the one ``api`` instance.

One error shape (problem+json, also in the OpenAPI document), one pager and one auth decorator
for the whole API. The app factory binds ``api`` and says who checks tokens
(:func:`use_authenticator`), so nothing here imports a feature.
"""

from __future__ import annotations

import functools
import http
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

import flask_smorest
from apispec import BasePlugin
from flask import Flask, Response, current_app, g, request
from flask_smorest.pagination import PaginationMetadataSchema
from sqlalchemy import Select, func, select

from api_schemas.common import ProblemSchema
from service.errors import CORRELATION_HEADER, PROBLEM_JSON, Forbidden, http_exception_problem
from service.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
AUTHENTICATOR = "service.api.authenticator"
ROLE_REFUSED = "service.api.role_refused"


class SignedInUser(Protocol):
    """What ``login_required`` needs of the user an authenticator returns."""

    @property
    def role(self) -> str:
        """The user's role, e.g. ``social_worker``."""
        ...


def use_authenticator(app: Flask, authenticate: Callable[[], SignedInUser]) -> None:
    """Make ``authenticate`` the check behind ``login_required`` in ``app``.

    It reads the request's credentials and returns the signed-in user, or raises 401.
    """
    app.extensions[AUTHENTICATOR] = authenticate


def use_role_refusal_recorder(
    app: Flask, recorder: Callable[[SignedInUser, str, dict[str, Any]], None]
) -> None:
    """Have ``recorder(user, endpoint, path_args)`` hear each request refused for its role (403)."""
    app.extensions[ROLE_REFUSED] = recorder


def _authenticate() -> SignedInUser:
    authenticate: Callable[[], SignedInUser] | None = current_app.extensions.get(AUTHENTICATOR)
    if authenticate is None:  # fail closed: a view behind login_required never runs unchecked
        raise RuntimeError("no authenticator: create_app must call use_authenticator()")
    return authenticate()


def nullable_reference(self: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Let a nullable nested schema be null, and nothing else besides the schema.

    For OpenAPI 3.0 apispec writes ``anyOf: [{type: object, nullable: true}, {$ref}]``, whose
    first branch accepts any object at all. Limited to ``null`` it says what the field means.
    (An apispec attribute function: bound to its converter, run after the built-in ones.)
    """
    for branch in ret.get("anyOf", []):
        if branch == {"type": "object", "nullable": True}:
            branch["enum"] = [None]
    return {}


def problem_response(
    description: str, *, server_error: bool = False, retry_after: bool = False
) -> dict[str, Any]:
    """An error response's documentation: problem+json with the ProblemSchema, and the
    ``X-Request-Id`` header every answer carries; a server error's also names the
    ``X-Correlation-Id`` header a 500 carries, and one that may say when to try again (429, 503)
    names ``Retry-After``.
    """
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": ProblemSchema}},
    }
    headers: dict[str, str] = {REQUEST_ID_HEADER_NAME: REQUEST_ID}
    if server_error:
        headers[CORRELATION_HEADER] = CORRELATION_ID
    if retry_after:
        headers.update(retry_after_headers())
    response["headers"] = headers
    return response


# The header component naming a 500's correlation id (service/errors.py sets it). Only the
# server makes one: a client's own id for its request goes in X-Request-Id.
CORRELATION_ID = "CORRELATION_ID"
CORRELATION_ID_HEADER = {
    "description": (
        "On a 500 (unexpected error) only: the id under which the error was logged, also the "
        "body's `correlation_id`; quote it when reporting the error. Made by the server, never "
        "taken from the request."
    ),
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}

# The header component saying when to try again: every 429, and a 503 (a dependency down).
RETRY_AFTER = "RETRY_AFTER"
RETRY_AFTER_HEADER = {
    "description": (
        "On a 429 (too many attempts), a 503 (a dependency down) and a 507 (the evidence store "
        "full): the seconds to wait before trying again."
    ),
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
}


# The caller's id for a request, and the id the request went by (service/audit/trail.py): a
# request parameter and a response header of every operation. A bad id is replaced, never
# refused, so the parameter's schema is any string: a maxLength or pattern there would call
# values the service takes (and the fuzz test sends, expecting a refusal) invalid.
REQUEST_ID = "REQUEST_ID"
REQUEST_ID_HEADER_NAME = "X-Request-Id"
REQUEST_ID_PARAMETER = {
    "name": REQUEST_ID_HEADER_NAME,
    "description": (
        "Your own id for this request, to find it again: sent back in the response's "
        "`X-Request-Id` and kept with the request's audit events. Up to 64 letters, digits and "
        "`- _ . :`; any other value (or none) is not refused but replaced by a fresh id."
    ),
    "required": False,
    "schema": {"type": "string"},
}
REQUEST_ID_HEADER = {
    "description": (
        "The id this request went by, in the audit trail too: the request's own `X-Request-Id` "
        "if it was up to 64 letters, digits and `- _ . :`, otherwise one the server made "
        "(32 hex digits). Quote it when asking about the request."
    ),
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}


def retry_after_headers() -> dict[str, str]:
    """The headers of a response that says when to try again, for a view's own
    ``alt_response(429 or 503, ..., headers=retry_after_headers())`` (a fresh dict: apispec
    resolves the reference in place).
    """
    return {"Retry-After": RETRY_AFTER}


# Errors any operation of a kind can answer, documented once here rather than on every view.
COMMON_ERRORS = {
    "NotFound": problem_response("No such record, or not in your scope: the two look the same"),
    "MalformedBody": problem_response("The body is not valid JSON"),
    "BodyTooLarge": problem_response("The body is larger than this endpoint accepts"),
    "ServerError": problem_response(
        "Our fault (500, with a correlation id in the logs and the X-Correlation-Id header) or "
        "a dependency down (503, with Retry-After); nothing was saved",
        server_error=True,
        retry_after=True,
    ),
}


class CommonErrors(BasePlugin):
    """Document on every operation what comes from its shape, not from its view.

    A path with an id answers 404; a JSON body can be malformed (400) or too large (413); any
    request can meet a server error (5XX). Views add their own with ``alt_response``. Every
    operation takes an ``X-Request-Id`` and every answer carries one.
    """

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Add the shared error responses an operation does not already document, and the
        ``X-Request-Id`` parameter and response header.
        """
        for operation in (operations or {}).values():
            operation.setdefault("parameters", []).append(REQUEST_ID)
            documented = operation.setdefault("responses", {})
            for response in documented.values():
                if isinstance(response, dict):  # a name is a component: it has the header
                    response.setdefault("headers", {})[REQUEST_ID_HEADER_NAME] = REQUEST_ID
            common = {"5XX": "ServerError"}
            if "{" in (path or ""):
                common["404"] = "NotFound"
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                common.update({"400": "MalformedBody", "413": "BodyTooLarge"})
            for status, name in common.items():
                if status not in documented and _int_or_none(status) not in documented:
                    documented[status] = name
            operation["responses"] = dict(sorted(documented.items(), key=lambda item: str(item[0])))


def _int_or_none(status: str) -> int | None:
    return int(status) if status.isdigit() else None


def never_stored_or_sniffed(response: Response) -> Response:
    """Every response under the API's prefix, errors included: ``Cache-Control: no-store`` (a
    child's record must not stay in a shared tablet's or a proxy's cache) and ``nosniff`` (a
    browser never runs what we send as something else). A stricter ``private, no-store`` stays.
    """
    prefix = str(current_app.config["OPENAPI_URL_PREFIX"]).rstrip("/")
    if request.path == prefix or request.path.startswith(prefix + "/"):
        if "no-store" not in response.headers.get("Cache-Control", ""):
            response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class Api(flask_smorest.Api):
    """The service's Api: problem+json errors and a bearer-token security scheme."""

    ERROR_SCHEMA = ProblemSchema
    # No catch-all "default" response: every status an operation can answer is named, so the
    # fuzz test's status_code_conformance check means something.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def init_app(self, app: Flask, *args: Any, **kwargs: Any) -> None:
        """Bind the Api, and send every API response with :func:`never_stored_or_sniffed`."""
        super().init_app(app, *args, **kwargs)
        app.after_request(never_stored_or_sniffed)

    def handle_http_exception(self, error: Any) -> Any:
        """Render every HTTP error as RFC 9457 problem+json."""
        return http_exception_problem(error)

    def _init_spec(self, *, extra_plugins: Any = None, **kwargs: Any) -> None:
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), CommonErrors()], **kwargs)
        self.ma_plugin.converter.add_attribute_function(nullable_reference)

    def _register_responses(self) -> None:
        """Register the responses that decorators refer to by name, errors as problem+json.

        flask-smorest's own version documents them as ``application/json`` with its error
        schema; ours answers every error with :func:`service.errors.problem`.
        """
        self.spec.components.header(CORRELATION_ID, CORRELATION_ID_HEADER)
        self.spec.components.header(RETRY_AFTER, RETRY_AFTER_HEADER)
        self.spec.components.header(REQUEST_ID, REQUEST_ID_HEADER)
        self.spec.components.parameter(REQUEST_ID, "header", REQUEST_ID_PARAMETER)
        for status in http.HTTPStatus:
            if status >= 400:
                response = problem_response(
                    status.phrase,
                    server_error=status >= 500,
                    retry_after=status in (429, 503),
                )
            else:
                response = {
                    "description": status.phrase,
                    "headers": {REQUEST_ID_HEADER_NAME: REQUEST_ID},
                }
            self.spec.components.response(status.name, response, lazy=True)
        for name, response in COMMON_ERRORS.items():
            self.spec.components.response(name, response, lazy=True)
        self.spec.components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        )

    def _register_pagination_header(self) -> None:
        """Document ``X-Pagination`` as what it is: an object serialised as JSON text.

        flask-smorest gives the header ``schema: object``, which in OpenAPI's ``simple`` style
        means ``total,4,page,1``; a client (and the fuzz test) reading it so would be misled.
        """
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata, as JSON",
                "content": {"application/json": {"schema": PaginationMetadataSchema}},
            },
            lazy=True,
        )


api = Api()


def _documenting(decorator: Callable[[Any], Any]) -> Callable[[F], F]:
    """``decorator`` (flask-smorest's ``doc`` or ``alt_response``) as documentation only.

    flask-smorest wraps the view in a function that only calls it (through ``current_app`` and
    ``ensure_sync``), to hold the added documentation in the wrapper's ``_apidoc``. A visit
    PUT had nine such layers, run on every request. Here the view itself takes the new
    ``_apidoc`` (a fresh copy, as the wrapper's was) and no layer is added.
    """

    def document(view: F) -> F:
        view._apidoc = decorator(view)._apidoc  # type: ignore[attr-defined]
        return view

    return document


class Blueprint(flask_smorest.Blueprint):
    """A blueprint whose ``login_required`` checks the bearer token and, optionally, the role."""

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 200}

    def alt_response(
        self,
        status_code: int | str | http.HTTPStatus,
        response: Any = None,
        *,
        schema: Any = None,
        content_type: str | None = None,
        **kwargs: Any,
    ) -> Callable[[F], F]:
        """Document another response; an error one is problem+json with the ProblemSchema.

        Routes write ``@blp.alt_response(409, description="...")`` and the document says
        what the body of that 409 is.
        """
        if response is None and str(status_code).startswith(("4", "5")):
            schema = ProblemSchema if schema is None else schema
            content_type = content_type or PROBLEM_JSON
        return _documenting(
            super().alt_response(
                status_code, response, schema=schema, content_type=content_type, **kwargs
            )
        )

    @staticmethod
    def doc(**kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's: the view's documentation, without a wrapper around it."""
        return _documenting(flask_smorest.Blueprint.doc(**kwargs))

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's, with a schema given as a class built once, here.

        webargs builds a schema given as a class on every request, and marshmallow each of its
        nested schemas with it (a deep copy of every field): a tenth of a visit create's CPU.
        A schema instance keeps no state between loads, so one serves every request.
        """
        if isinstance(schema, type):
            schema = schema()
        decorator: Callable[[F], F] = super().arguments(schema, **kwargs)
        return decorator

    def login_required(self, *roles: str) -> Callable[[F], F]:
        """Require a valid access token; with ``roles``, also one of those roles (403 otherwise).

        The signed-in user is ``flask.g.user``. Roles decide what kind of thing a user may do;
        which records they may see is the policy layer's question, answered with 404.
        """

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                user = _authenticate()
                if roles and user.role not in roles:
                    recorder = current_app.extensions.get(ROLE_REFUSED)
                    if recorder is not None:
                        recorder(user, view.__name__, kwargs)
                    raise Forbidden("auth.role_forbidden", "Your role cannot do this.")
                g.user = user
                return view(*args, **kwargs)

            documented: Any = self.doc(security=BEARER)(wrapper)
            documented = self.alt_response(401, description="Not signed in")(documented)
            if roles:
                documented = self.alt_response(403, description="Role not allowed")(documented)
            return cast(F, documented)

        return decorator


def _page(query: Select[*tuple[Any, ...]], pagination: Any) -> Select[*tuple[Any, ...]] | None:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination.item_count = int(total or 0)
    if pagination.first_item >= pagination.item_count:
        return None  # past the end; also keeps absurd page numbers out of OFFSET
    return query.limit(pagination.page_size).offset(pagination.first_item)


def paginate_select(query: Select[Any], pagination: Any) -> list[Any]:
    """Run one page of ``query`` (LIMIT/OFFSET) and set the total for the ``X-Pagination`` header.

    Used with ``@blp.paginate()``, which passes ``pagination_parameters`` to the view, so the view
    holds the page's rows and can audit exactly what was shown.
    """
    page = _page(query, pagination)
    return [] if page is None else list(db.session.scalars(page).unique())


def paginate_rows(query: Select[*tuple[Any, ...]], pagination: Any) -> list[Any]:
    """As :func:`paginate_select`, for a query of several columns: the page's rows as tuples."""
    page = _page(query, pagination)
    return [] if page is None else list(db.session.execute(page).all())
