"""Shared fixtures: one app per session on a migrated database, emptied after every test.

The database is a temporary SQLite file unless ``DATABASE_URL`` is set (CI sets a fresh
PostgreSQL database); the suite refuses a database whose name does not contain "test",
because it empties every table.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import make_url, text

from service import create_app
from service.extensions import db
from tests.factories import PASSWORD, make_case, make_team, make_user
from tests.s3server import S3Server
from tests.served import ServedApp, served_app

OIDC_ISSUER = "https://login.council.test/realms/staff"
OIDC_AUDIENCE = "seen-and-heard"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    name = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).database or ""
    if "test" not in name:
        pytest.exit(f"refusing to run tests against database {name!r}: its name lacks 'test'", 2)
    return url


class JWKSServer:
    """The council identity provider's JWKS endpoint, on loopback, with one RSA key."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid="council-key-1", use="sig", alg="RS256")
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the session, on loopback ports."""
    server = S3Server().start()
    yield server
    server.close()


def _evidence_settings(
    tmp_path_factory: pytest.TempPathFactory, s3: S3Server | None
) -> dict[str, Any]:
    """Local folder by default; the S3 server when TEST_EVIDENCE_BACKEND=s3 (as in CI)."""
    if s3 is None:
        return {"EVIDENCE_STORE": f"file://{tmp_path_factory.mktemp('evidence')}"}
    s3.create_bucket("evidence-test")
    return {"EVIDENCE_STORE": "s3://evidence-test/council", **s3.settings()}


@pytest.fixture(scope="session")
def app(
    tmp_path_factory: pytest.TempPathFactory,
    jwks_server: JWKSServer,
    request: pytest.FixtureRequest,
) -> Iterator[Flask]:
    url = _database_url(tmp_path_factory)
    os.environ.pop("DATABASE_URL", None)
    use_s3 = os.environ.get("TEST_EVIDENCE_BACKEND", "local") == "s3"
    evidence = _evidence_settings(
        tmp_path_factory, request.getfixturevalue("s3_server") if use_s3 else None
    )
    application = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST_KIB": 1024,
            "LOGIN_RATE_LIMIT": "10000 per minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute",
            "FEEDBACK_RATE_LIMIT": "10000 per minute",
            "JWT_JWKS_URL": jwks_server.url,
            "JWT_OIDC_ISSUER": OIDC_ISSUER,
            "JWT_OIDC_AUDIENCE": OIDC_AUDIENCE,
            **evidence,
        }
    )
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


_SEQUENCES: dict[str, list[str]] = {}


def _sequences(connection: Any) -> list[str]:
    """The sequences of the test database's schema (read once per database)."""
    url = str(connection.engine.url)
    if url not in _SEQUENCES:
        _SEQUENCES[url] = list(
            connection.scalars(
                text(
                    "SELECT sequence_name FROM information_schema.sequences"
                    " WHERE sequence_schema = current_schema()"
                )
            )
        )
    return _SEQUENCES[url]


def empty_database(application: Flask) -> None:
    """Delete every row and every stored evidence object: after each test, and before each
    example of a property-based test (whose examples share one test's fixtures).
    """
    with application.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # The audit trail refuses deletes by trigger; tests start each from nothing. DELETE
                # and a restart of each sequence, not TRUNCATE: 4 ms, not 75 to 190 ms a test
                # (TRUNCATE makes new files for 29 tables), minutes over CI's suite.
                connection.execute(text("SET LOCAL session_replication_role = replica"))
                statements = [f"DELETE FROM {table}" for table in tables]  # noqa: S608
                statements += [f"ALTER SEQUENCE {name} RESTART" for name in _sequences(connection)]
                connection.execute(text("; ".join(statements)))
            else:
                triggers = connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                ).all()
                for name, _ in triggers:
                    connection.execute(text(f"DROP TRIGGER {name}"))
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
                for _, sql in triggers:
                    connection.execute(text(sql))
        store = application.extensions["evidence_store"]
        for item in list(store.list()):
            store.delete(item.key)


@pytest.fixture(autouse=True)
def _empty_database(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" in request.fixturenames:
        empty_database(request.getfixturevalue("app"))


@dataclass
class World:
    """Ids and usernames of a small council: two teams, their staff and cases."""

    usernames: dict[str, str]
    user_ids: dict[str, str]
    case_ids: dict[str, str]
    child_ids: dict[str, list[str]]
    team_ids: dict[str, str]


@pytest.fixture
def world(app: Flask) -> World:
    """Team A: worker_a (cases a1 with 2 children, a2 with 1), worker_a2 (case a3);
    team B: worker_b (case b1 with 2 children); supervisor_a, supervisor_b, manager, admin.
    """
    with app.app_context():
        team_a, team_b = make_team("team-a"), make_team("team-b")
        users = {
            "worker_a": make_user("social_worker", [team_a]),
            "worker_a2": make_user("social_worker", [team_a]),
            "worker_b": make_user("social_worker", [team_b]),
            "supervisor_a": make_user("supervisor", [team_a]),
            "supervisor_b": make_user("supervisor", [team_b]),
            "manager": make_user("manager", [team_a, team_b]),
            "admin": make_user("admin"),
        }
        cases = {
            "a1": make_case(team_a, users["worker_a"], 2),
            "a2": make_case(team_a, users["worker_a"], 1),
            "a3": make_case(team_a, users["worker_a2"], 1),
            "b1": make_case(team_b, users["worker_b"], 2),
        }
        world = World(
            usernames={key: user.username for key, user in users.items()},
            user_ids={key: str(user.id) for key, user in users.items()},
            case_ids={key: str(case.id) for key, case in cases.items()},
            child_ids={key: [str(c.id) for c in case.children] for key, case in cases.items()},
            team_ids={"a": str(team_a.id), "b": str(team_b.id)},
        )
        db.session.commit()
    return world


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Session:
    """A signed-in API caller: ``session.get("/cases")`` sends the bearer token."""

    def __init__(self, client: FlaskClient, token: str, refresh_token: str) -> None:
        self.client = client
        self.token = token
        self.refresh_token = refresh_token

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._call("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self._call("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self._call("DELETE", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self._call("PATCH", path, **kwargs)


@pytest.fixture
def sign_in(client: FlaskClient):  # type: ignore[no-untyped-def]
    """``sign_in(user_or_username, device_id=None)`` → a :class:`Session`."""

    def _sign_in(user: Any, device_id: str | None = None, password: str = PASSWORD) -> Session:
        username = user if isinstance(user, str) else user.username
        body = {"username": username, "password": password}
        if device_id:
            body["device_id"] = device_id
        response = client.post("/api/v1/auth/token", json=body)
        assert response.status_code == 200, response.get_json()
        tokens = response.get_json()
        return Session(client, tokens["access_token"], tokens["refresh_token"])

    return _sign_in


@pytest.fixture
def worker(world: World, sign_in: Any) -> Session:
    """worker_a, signed in (allocated cases a1 and a2)."""
    return sign_in(world.usernames["worker_a"])  # type: ignore[no-any-return]


@pytest.fixture
def supervisor(world: World, sign_in: Any) -> Session:
    """supervisor_a, signed in (team A)."""
    return sign_in(world.usernames["supervisor_a"])  # type: ignore[no-any-return]


PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its SQLAlchemy URL, and drop it afterwards.

    Skips only where no PostgreSQL server answers and ``CI`` is not set: in CI it must run.
    Its name starts with ``TEST_POSTGRES_DATABASE_PREFIX`` (default ``seen_heard_test``).
    """
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {error}")
    prefix = os.environ.get("TEST_POSTGRES_DATABASE_PREFIX", "seen_heard_test")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The app under gunicorn (4 gthread workers, 2 threads each) on 127.0.0.1, for one module.

    It runs on its own fresh, migrated PostgreSQL database; tests seed what they need through
    ``served.seed(...)`` and call it over HTTP through ``served.api``. Stopped and dropped after.
    """
    workdir = tmp_path_factory.mktemp("served")
    with fresh_postgres_database() as url, served_app(url, workdir) as application:
        yield application
