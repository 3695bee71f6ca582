"""One unit of work per request: commit once after success, roll back on any error.

Also the database's time bound: a request never waits longer than ``DATABASE_TIMEOUT_SECONDS``
for one answer from PostgreSQL (nor SQLite for a lock), so a database that hangs is a 503 with
``Retry-After`` well before gunicorn kills the worker. Outside a request, a CLI command waits at
most ``COMMAND_DATABASE_TIMEOUT_SECONDS`` for one answer, then stops with a message and a
non-zero exit; the outbox worker sets its own bound (``WORKER_DATABASE_TIMEOUT_SECONDS``) and
retries. Connecting is bounded by ``DATABASE_TIMEOUT_SECONDS`` everywhere. The message names the
bound that ran out (:func:`bound_reached`).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import click
import psycopg
from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError
from sqlalchemy.orm import Session

from service.errors import database_unavailable_problem
from service.extensions import db

log = logging.getLogger(__name__)


def keep_changes_on_error() -> None:
    """Commit this request's changes even though it answers an error.

    For the rare refusal that must itself be recorded, such as revoking a session whose refresh
    token was replayed.
    """
    g.keep_changes_on_error = True


def after_rollback_write(write: Callable[[], None]) -> None:
    """If this request fails and rolls back, call ``write`` afterwards, in a fresh transaction.

    ``write`` commits what it writes. For records of the refusal itself (an access denied),
    which must outlive the rollback of everything else the request did.
    """
    g.setdefault("after_rollback_writes", []).append(write)


def _write_after_rollback() -> None:
    for write in g.pop("after_rollback_writes", []):
        try:
            write()
        except OperationalError:
            db.session.rollback()
            log.exception("could not write a record after a rollback; the database is down")


# Set by the app on each request's WSGI environment: True when the request pushes its own app
# context, as every request under gunicorn does (see ``service._App.wsgi_app``).
OWNS_APP_CONTEXT = "seen_and_heard.owns_app_context"


def commit_unit_of_work(response: Response) -> Response:
    """Commit the request's changes if the response is a success, otherwise roll them back."""
    if response.status_code >= 400 and not g.get("keep_changes_on_error"):
        db.session.rollback()
        _write_after_rollback()
        return response
    session = db.session()
    # Nothing reads this request's objects after this commit when the request has its own app
    # context (so its own session, removed at teardown) and a response already built: expiring
    # each of them, so that a later read would reload it, is then work for nobody (about 3% of a
    # visit create's CPU). A streamed body may still read them; a test holding the app context
    # may too, after the request: both keep the expiry.
    final = request.environ.get(OWNS_APP_CONTEXT, False) and not response.is_streamed
    expire = session.expire_on_commit
    try:
        if final:
            session.expire_on_commit = False
        db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        return database_unavailable_problem(error)
    finally:
        session.expire_on_commit = expire
    return response


AFTER_COMMIT = "after_commit_callbacks"


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once this transaction has committed; never if it rolls back.

    For work outside the database that must not run ahead of it, such as deleting a stored
    object whose row is being deleted: if the commit failed, the row would point at nothing.
    """
    db.session.info.setdefault(AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(AFTER_COMMIT, []):
        callback()


def _drop_after_rollback(session: Session, *args: object) -> None:
    # A savepoint rolling back leaves the outer transaction, and its callbacks, in place.
    if not session.in_transaction():
        session.info.pop(AFTER_COMMIT, None)


def _sqlite_savepoints(engine: Engine) -> None:
    """Let SQLite's driver leave transactions to SQLAlchemy, so savepoints really work.

    pysqlite begins transactions itself and commits them early around some statements, which
    turns a rolled-back savepoint (one rejected sync item) into half a batch committed. This is
    the recipe SQLAlchemy documents: no driver-level transactions, and an explicit BEGIN.
    """

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # IMMEDIATE: a transaction that reads and then writes would otherwise deadlock with
        # another doing the same, and SQLite answers that with an error, not a wait.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# The bound in force within database_deadline: seconds, and the setting that says so (if any).
_wait_bound: ContextVar[tuple[float, str | None] | None] = ContextVar(
    "database_wait_bound", default=None
)
REQUEST_BOUND = "DATABASE_TIMEOUT_SECONDS"
COMMAND_BOUND = "COMMAND_DATABASE_TIMEOUT_SECONDS"
# Connecting to PostgreSQL (libpq's connect_timeout) and SQLite's wait for a lock, everywhere.
CONNECT_BOUND = "DATABASE_TIMEOUT_SECONDS"


@contextmanager
def database_deadline(seconds: float, setting: str | None = None) -> Iterator[None]:
    """Within the block, wait at most ``seconds`` for each answer from PostgreSQL (a probe, a
    worker's loop), instead of the request's or the command's bound; ``setting`` names the
    setting it comes from, for the message when a wait runs out.
    """
    token = _wait_bound.set((seconds, setting))
    try:
        yield
    finally:
        _wait_bound.reset(token)


class AnswerTimeout(psycopg.OperationalError):
    """PostgreSQL did not answer within the bound in force; ``setting`` names that bound."""

    setting: str | None = None


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection that gives up on a server that does not answer.

    PostgreSQL's ``statement_timeout`` cannot help when the server or the network hangs (nothing
    comes back to say it was cancelled), and TCP keepalives see a live peer that merely never
    answers. So the client bounds each wait for an answer: within :func:`database_deadline`, by
    its bound; during a request, by ``request_timeout``; anywhere else (a CLI command), by
    ``command_timeout``. Past the bound the connection is closed, never to be reused, and
    ``psycopg.OperationalError`` raised; SQLAlchemy counts a closed connection as a disconnect
    and drops it from the pool. The bound is per answer, not per command: a command reading a
    million rows in batches waits for each batch, never for the whole.
    """

    request_timeout: float | None = None
    command_timeout: float | None = None

    def _bound(self) -> tuple[float | None, str | None]:
        deadline = _wait_bound.get()
        if deadline is not None:
            return deadline
        if has_request_context():
            return self.request_timeout, REQUEST_BOUND
        return self.command_timeout, COMMAND_BOUND

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        """Consume ``gen`` as psycopg does, within the bound in force (none if it is 0)."""
        bound, setting = self._bound()
        if timeout is not None or not bound:
            return super().wait(gen, interval, timeout)
        started = time.monotonic()
        try:
            return super().wait(gen, interval, bound)
        except psycopg.OperationalError:
            if time.monotonic() - started < bound:
                raise
            self.close()
            timed_out = AnswerTimeout(f"the database did not answer within {bound:g} s")
            timed_out.setting = setting
            raise timed_out from None


def engine_options(url: str, timeout: int) -> dict[str, Any]:
    """SQLAlchemy engine options: ``timeout`` bounds SQLite's wait for a lock, and connecting to
    PostgreSQL or waiting for one of the pool's connections.
    """
    options: dict[str, Any] = {"hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": timeout}
    elif url.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": timeout}
        options["pool_timeout"] = timeout
    return options


def _bounded_postgresql(engine: Engine, request_timeout: int, command_timeout: int) -> None:
    class Bounded(BoundedConnection):
        pass

    Bounded.request_timeout = request_timeout
    Bounded.command_timeout = command_timeout

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return Bounded.connect(*cargs, **cparams)


def unavailable(error: DBAPIError) -> bool:
    """Whether ``error`` says the database could not be reached or stopped answering (the
    connection is gone, or none was made; SQLite: still locked), rather than refusing a
    statement. A refusal from PostgreSQL carries an SQLSTATE; a lost connection does not.
    """
    if error.connection_invalidated:
        return True
    return isinstance(error, OperationalError) and getattr(error.orig, "sqlstate", None) is None


def bound_reached(error: BaseException) -> str | None:
    """Which setting bounded the wait that ``error`` ended, in words for a message; None when
    the database refused or dropped the connection rather than keeping it waiting.
    """
    orig = getattr(error, "orig", None) or error
    if isinstance(orig, psycopg.errors.ConnectionTimeout):
        return f"{CONNECT_BOUND} bounds connecting"
    if isinstance(orig, AnswerTimeout):
        return f"{orig.setting} bounds each wait for an answer" if orig.setting else None
    if isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig):
        return f"{CONNECT_BOUND} bounds the wait for SQLite's lock"
    return None


def first_line(error: BaseException) -> str:
    """The driver's first line about ``error`` (what happened and where), for a log or a
    message: never the statement or its parameters, which SQLAlchemy's own text adds.
    """
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def explain_database_failures(group: click.Group) -> None:
    """Have every command of ``group`` (and of its subgroups) end with a one-line message and
    exit status 1 when the database is unreachable or stops answering, not with a traceback.

    Idempotent: the command objects are shared by every app built in one process.
    """
    for command in group.commands.values():
        if isinstance(command, click.Group):
            explain_database_failures(command)
        elif command.callback is not None and not hasattr(command.callback, "_explained"):
            command.callback = _explained(command.callback)


def _explained(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except DBAPIError as error:
            if not unavailable(error):
                raise
            bound = bound_reached(error)
            raise click.ClickException(
                f"the database is unavailable ({first_line(error)}); the command stopped, and "
                "what it had committed stays committed. Run it again once the database answers"
                + (f" ({bound})." if bound else ".")
            ) from None

    run._explained = True  # type: ignore[attr-defined]
    return run


IDLE_SINCE = "idle_since"


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection with a round trip before use only if it sat unused for
    ``idle_seconds``; a dead one is replaced (and the rest of the pool with it) before the
    request sees it.

    ``pool_pre_ping`` made that round trip on every checkout, about a tenth of a visit create's
    time under load. A connection in steady use needs no check: if the database restarted
    meanwhile, the request's first statement fails, SQLAlchemy recognises the disconnect and
    marks the whole pool for replacement, and that one request answers 503 with Retry-After
    (the OperationalError handler); the next gets a fresh connection.
    tests/integration/test_database_restart.py restarts PostgreSQL's side of the connections.
    """

    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool retries the checkout with a new connection, and replaces the others.
            raise InvalidatePoolError("a pooled connection did not answer") from error


def init_app(app: Flask) -> None:
    """Install the commit-at-the-boundary hook, the after-commit callbacks, the time bound and the
    check of idle pooled connections.
    """
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_savepoints(db.engine)
        else:
            _ping_after_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
            if db.engine.dialect.driver == "psycopg":
                _bounded_postgresql(
                    db.engine,
                    app.config["DATABASE_TIMEOUT_SECONDS"],
                    app.config["COMMAND_DATABASE_TIMEOUT_SECONDS"],
                )
    app.after_request(commit_unit_of_work)
    if not event.contains(Session, "after_commit", _run_after_commit):
        event.listen(Session, "after_commit", _run_after_commit)
        event.listen(Session, "after_rollback", _drop_after_rollback)
