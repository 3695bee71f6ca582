"""The API layer: the flask-smorest Api and Blueprint subclasses, and the one ``api`` instance.

One error shape (problem+json), one pager and one auth decorator for the whole API. The app
factory binds ``api`` and says who checks tokens (:func:`use_authenticator`), so nothing here
imports a feature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import flask_smorest
from flask import Flask, current_app, g
from sqlalchemy import Select, func, select

from service.errors import Forbidden, http_exception_problem
from service.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
AUTHENTICATOR = "service.api.authenticator"


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


def _authenticate() -> SignedInUser:
    authenticate: Callable[[], SignedInUser] | None = current_app.extensions.get(AUTHENTICATOR)
    if authenticate is None:  # fail closed: a view behind login_required never runs unchecked
        raise RuntimeError("no authenticator: create_app must call use_authenticator()")
    return authenticate()


class Api(flask_smorest.Api):
    """The service's Api: problem+json errors and a bearer-token security scheme."""

    def handle_http_exception(self, error: Any) -> Any:
        """Render every HTTP error as RFC 9457 problem+json."""
        return http_exception_problem(error)

    def _register_responses(self) -> None:
        super()._register_responses()
        self.spec.components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        )


api = Api()


class Blueprint(flask_smorest.Blueprint):
    """A blueprint whose ``login_required`` checks the bearer token and, optionally, the role."""

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 200}

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
                    raise Forbidden("auth.role_forbidden", "Your role cannot do this.")
                g.user = user
                return view(*args, **kwargs)

            documented = self.doc(security=BEARER)(wrapper)
            documented = self.alt_response(401, description="Not signed in")(documented)
            if roles:
                documented = self.alt_response(403, description="Role not allowed")(documented)
            return documented

        return decorator


def paginate_select(query: Select[Any], pagination: Any) -> list[Any]:
    """Run one page of ``query`` (LIMIT/OFFSET) and set the total for the ``X-Pagination`` header.

    Used with ``@blp.paginate()``, which passes ``pagination_parameters`` to the view, so the view
    holds the page's rows and can audit exactly what was shown.
    """
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination.item_count = int(total or 0)
    if pagination.first_item >= pagination.item_count:
        return []  # past the end; also keeps absurd page numbers out of OFFSET
    page = query.limit(pagination.page_size).offset(pagination.first_item)
    return list(db.session.scalars(page).unique())
