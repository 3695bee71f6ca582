"""Benchmark plumbing: a seeded database and process memory readings (gunicorn: tests.served)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from flask_migrate import upgrade

from service import create_app
from service.extensions import db


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> set[int]:
    """``pid`` and every process descended from it (a gunicorn master and its workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return tree


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


class PostgresDatabase:
    """A scratch PostgreSQL database for one benchmark, dropped afterwards.

    Its name starts with ``BENCH_DB_PREFIX`` (default ``seen_heard_test_bench_``), so several
    people sharing one PostgreSQL can each keep to their own names.
    """

    def __init__(
        self,
        admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
        prefix: str | None = None,
    ) -> None:
        import uuid

        self.admin_url = admin_url
        prefix = prefix or os.environ.get("BENCH_DB_PREFIX", "seen_heard_test_bench_")
        self.name = f"{prefix}{uuid.uuid4().hex[:10]}"
        self.url = f"{admin_url.rsplit('/', 1)[0]}/{self.name}"
        self.sqlalchemy_url = self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    def __enter__(self) -> PostgresDatabase:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def backend_pids(self) -> set[int]:
        """The PostgreSQL server processes serving this database's connections now (this one's
        own excepted), whose CPU is the database's share of a benchmark's work.
        """
        import psycopg

        with psycopg.connect(self.admin_url) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
            ).fetchall()
        return {int(row[0]) for row in rows}

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
