"""Benchmark plumbing: a seeded database, the app under gunicorn, process memory readings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from flask_migrate import upgrade

from service import create_app
from service.extensions import db
from tests.s3server import free_port

ROOT = Path(__file__).resolve().parents[2]


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def prepare_database(settings: dict[str, Any], build: Any) -> Any:
    """Migrate the database named in ``settings`` and let ``build()`` add rows; return its result."""
    app = create_app(settings)
    with app.app_context():
        upgrade()
        result = build()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return result


class Gunicorn:
    """The app served by gunicorn on a loopback port, configured through the environment."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 1,
        worker_class: str = "sync",
        app: str = "wsgi:app",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.workers = workers
        self.worker_class = worker_class
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(self.workers),
                "--worker-class",
                self.worker_class,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "900",
                "--log-level",
                "warning",
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()  # noqa: S310
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not start")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


class PostgresDatabase:
    """A scratch PostgreSQL database for one benchmark, dropped afterwards."""

    def __init__(self, admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> None:
        import uuid

        self.admin_url = admin_url
        self.name = f"seen_heard_test_bench_{uuid.uuid4().hex[:10]}"
        self.url = f"{admin_url.rsplit('/', 1)[0]}/{self.name}"
        self.sqlalchemy_url = self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    def __enter__(self) -> PostgresDatabase:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def count(self, table: str) -> int:
        import psycopg

        with psycopg.connect(self.url) as connection:
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            return int(row[0]) if row else 0

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def post_json(
    base_url: str, path: str, body: Any, token: str | None = None, method: str = "POST"
) -> tuple[int, Any]:
    """One JSON request over HTTP; returns the status and the decoded body."""
    import json

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - loopback
        base_url + path, data=json.dumps(body).encode(), headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
