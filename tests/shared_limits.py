"""Redis for the shared rate limits, and several app instances on one database.

The tests use the Redis on 127.0.0.1 (``TEST_REDIS_URL``, database 5 by default) and never flush
it: each test writes under its own key prefix, so runs side by side cannot meet.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade

from service import create_app
from service.extensions import db
from tests.factories import FAST_TEST_SETTINGS, PASSWORD, make_user
from tests.served import Gunicorn, ServedApi, served_settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def redis_or_skip() -> redis.Redis:
    """A client of the test Redis; skips where none answers, unless ``CI`` is set."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    return client


def fresh_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@dataclass
class Instances:
    """Several app instances on one database, each its own gunicorn, and their callers."""

    servers: list[Gunicorn]
    apis: list[ServedApi]
    seeder: Flask

    def user(self, role: str = "social_worker") -> str:
        """Add an account (password ``PASSWORD``) and return its username."""
        with self.seeder.app_context():
            username = make_user(role).username
            db.session.commit()
            db.session.remove()
        return username

    def log(self) -> str:
        """The ends of every instance's log."""
        return "\n".join(server.log() for server in self.servers)


def migrated_seeder(database_url: str, evidence_dir: Path) -> Flask:
    """A local app on ``database_url``, migrated, to seed rows for the served instances."""
    seeder = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "EVIDENCE_STORE": f"file://{evidence_dir}",
            **FAST_TEST_SETTINGS,
        }
    )
    with seeder.app_context():
        upgrade()
        db.session.remove()
    return seeder


@contextmanager
def instances(
    database_url: str, workdir: Path, settings: dict[str, str], count: int = 2, workers: int = 1
) -> Iterator[Instances]:
    """``count`` gunicorn instances of the app with ``settings`` added to the served defaults."""
    seeder = migrated_seeder(database_url, workdir / "evidence")
    env = {**served_settings(database_url, workdir / "evidence"), **settings}
    try:
        with ExitStack() as stack:
            servers = [
                stack.enter_context(
                    Gunicorn(
                        env,
                        timeout=30,
                        workers=workers,
                        worker_class="gthread",
                        threads=2,
                        log_path=workdir / f"gunicorn-{index}.log",
                    )
                )
                for index in range(count)
            ]
            yield Instances(servers, [ServedApi(server.url) for server in servers], seeder)
    finally:
        with seeder.app_context():
            db.engine.dispose()


class SilentServer:
    """A TCP server on loopback that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self.sock.close()
        for connection in self.accepted:
            connection.close()


def wrong_password(username: str) -> dict[str, str]:
    """A sign-in body with a password nobody has."""
    return {"username": username, "password": "not-the-password"}


def right_password(username: str) -> dict[str, str]:
    """A sign-in body with the factories' password."""
    return {"username": username, "password": PASSWORD}
