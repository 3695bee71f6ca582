"""One unit of work per request: commit once after success, roll back on any error."""

from __future__ import annotations

from flask import Flask, Response, g
from sqlalchemy.exc import OperationalError

from service.errors import database_unavailable_problem
from service.extensions import db


def keep_changes_on_error() -> None:
    """Commit this request's changes even though it answers an error.

    For the rare refusal that must itself be recorded, such as revoking a session whose refresh
    token was replayed.
    """
    g.keep_changes_on_error = True


def commit_unit_of_work(response: Response) -> Response:
    """Commit the request's changes if the response is a success, otherwise roll them back."""
    if response.status_code >= 400 and not g.get("keep_changes_on_error"):
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        return database_unavailable_problem(error)
    return response


def init_app(app: Flask) -> None:
    """Install the commit-at-the-boundary hook."""
    app.after_request(commit_unit_of_work)
