"""The Flask extensions, created unbound here and bound to the app in :func:`service.create_app`.

The bottom of the house: the database, migrations and the rate limiter. Nothing here knows the
API layer (``service.api``) or any feature.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from limits.errors import StorageError
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from service.columns import UTCDateTime

# Deterministic constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; models subclass it directly so type checkers see them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def client_address() -> str:
    """The caller's address for rate limiting (a proxy in front must set ``remote_addr``)."""
    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
MIGRATIONS = str(Path(__file__).parent / "migrations")


def render_migration_type(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types into migrations as plain SQLAlchemy types."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


migrate = Migrate(
    directory=MIGRATIONS,
    render_as_batch=True,
    compare_type=True,
    render_item=render_migration_type,
)
# A moving window: "60 per minute" means no 61 in any 60 seconds, not 120 across a minute's
# edge. When the shared store (Redis) cannot be reached, each process counts alone in memory and
# logs a warning, checking the store again after 1, 2, 4 ... 32 s: signing in stays open, with
# per-process limits, rather than failing for everyone (README "Running several instances").
limiter = Limiter(
    key_func=client_address, strategy="moving-window", in_memory_fallback_enabled=True
)


def skip_idle_limit_check(app: Flask) -> None:
    """Take flask-limiter's per-request check off ``app`` when it can never limit anything.

    Every limit here is a route's own (``limiter.limit`` and ``shared_limit`` on the sign-in
    routes and the care leavers' form), and flask-limiter checks those in the route's own
    wrapper; its ``before_request`` check is for limits on the whole application, on every route
    by default, on blueprints, meta limits and in-memory fallback limits, of which this service
    sets none. That check still worked out, for every request, that nothing applied: about 3% of
    a visit create's CPU. Call once every route is registered; if any such limit is ever set,
    the check stays (and it stays too if flask-limiter's internals are not as expected).
    """
    manager = limiter.limit_manager
    if any(
        getattr(owner, name, True)
        for owner, name in (
            (manager, "_application_limits"),
            (manager, "_default_limits"),
            (manager, "_blueprint_limits"),
            (limiter, "_meta_limits"),
            (limiter, "_in_memory_fallback"),
        )
    ):
        return
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [
        hook for hook in hooks if hook != limiter._check_request_limit
    ]


# Signing in through the API's token endpoint, the desk's form or the council's identity
# provider draws on one budget per address.
SIGN_IN_SCOPE = "sign-in"


def rate_limit_storage_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The options flask-limiter gives its store (``RATELIMIT_STORAGE_OPTIONS``).

    For Redis: short connect and read timeouts and no retries, so a Redis that is down or hung
    costs a sign-in about one timeout before the in-memory fallback takes over; every key starts
    with ``RATELIMIT_KEY_PREFIX``; errors arrive as ``limits.errors.StorageError``.
    """
    if not str(config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        return {"wrap_exceptions": True}
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeout = config["RATELIMIT_STORAGE_TIMEOUT_MS"] / 1000
    return {
        "wrap_exceptions": True,
        "key_prefix": config["RATELIMIT_KEY_PREFIX"],
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def seconds_until_allowed() -> int | None:
    """For a request the limiter refused: whole seconds until the breached limit admits one more
    (a moving window frees its oldest attempt). ``None`` if the limiter did not refuse it.
    """
    breached = limiter.current_limit if has_request_context() else None
    if breached is None or not breached.breached:
        return None
    try:
        reset_at = breached.window.reset_time
    except StorageError:  # the store went away since: fall back to the caller's default
        return None
    return max(1, math.ceil(reset_at - time.time()))


def login_rate_limit() -> str:
    """``LOGIN_RATE_LIMIT``, read when a request is counted (tests and councils change it)."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])
