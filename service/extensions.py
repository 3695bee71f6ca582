"""The Flask extensions, created unbound here and bound to the app in :func:`service.create_app`.

The bottom of the house: the database, migrations and the rate limiter. Nothing here knows the
API layer (``service.api``) or any feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
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
limiter = Limiter(key_func=client_address)
# Signing in through the API's token endpoint, the desk's form or the council's identity
# provider draws on one budget per address.
SIGN_IN_SCOPE = "sign-in"


def login_rate_limit() -> str:
    """``LOGIN_RATE_LIMIT``, read when a request is counted (tests and councils change it)."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])
