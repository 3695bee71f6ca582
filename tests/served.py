"""The app served for real: gunicorn on a loopback port, and an HTTP caller that can race requests.

The benchmarks (``tests/perf``) and the concurrency tests (``tests/integration``) both use
:class:`Gunicorn`. :class:`ServedApi` speaks to it with ``http.client``, one connection per
request, and :meth:`ServedApi.race` releases several requests together from a barrier, each
already connected, so they reach the workers at the same moment.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask
from flask_migrate import upgrade

from service import create_app
from service.extensions import db
from tests.factories import FAST_TEST_SETTINGS, PASSWORD
from tests.s3server import free_port

ROOT = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT = 30
T = TypeVar("T")


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


class Gunicorn:
    """The app served by gunicorn on 127.0.0.1, configured through the environment.

    ``timeout`` is gunicorn's worker timeout in seconds: a request running longer has its worker
    killed. Used as a context manager, the server is always stopped on the way out.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        timeout: int,
        workers: int = 1,
        worker_class: str = "sync",
        threads: int = 1,
        app: str = "wsgi:app",
        log_path: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The app is told gunicorn's timeout, as `make run` tells it, and checks its own against it.
        self.env = {**os.environ, "GUNICORN_TIMEOUT": str(timeout), **env}
        self.timeout = timeout
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.app = app
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The gunicorn command line."""
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(self.timeout),
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            self.app,
        ]

    def __enter__(self) -> Gunicorn:
        log = self.log_path.open("ab") if self.log_path else None
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
                self.command(), cwd=ROOT, env=self.env, stderr=log
            )
        finally:
            if log:
                log.close()
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}\n{self.log()}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()  # noqa: S310
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start\n{self.log()}")

    def log(self, lines: int = 60) -> str:
        """The end of the server's log (its stderr), when it is written to a file."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """The worker processes' ids."""
        assert self.process is not None
        return children(self.process.pid)

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status, headers and the decoded JSON body (``None`` if there is none)."""

    status: int
    headers: Mapping[str, str]
    json: Any

    @property
    def etag(self) -> str | None:
        """The ``ETag`` header."""
        return self.headers.get("etag")

    @property
    def code(self) -> str | None:
        """The problem's stable ``code``, for an error."""
        return self.json.get("code") if isinstance(self.json, dict) else None

    @property
    def content_type(self) -> str:
        """The media type, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip()


@dataclass(frozen=True)
class Request:
    """One API request, built first so several can be sent at once."""

    method: str
    path: str
    token: str | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class ServedApi:
    """Sends requests to a served app over real connections."""

    def __init__(self, base_url: str) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)

    def connect(self) -> http.client.HTTPConnection:
        """An open connection to the server."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        connection.connect()
        return connection

    def send(self, request: Request, connection: http.client.HTTPConnection | None = None) -> Reply:
        """Send ``request`` (on ``connection``, or a new one) and read the whole reply."""
        connection = connection or self.connect()
        headers = {"Accept": "application/json", **request.headers}
        body = None
        if request.json is not None:
            body = json.dumps(request.json).encode()
            headers["Content-Type"] = "application/json"
        if request.token:
            headers["Authorization"] = f"Bearer {request.token}"
        try:
            connection.request(request.method, request.path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        return Reply(response.status, reply_headers, json.loads(raw) if raw else None)

    def race(self, requests: Sequence[Request]) -> list[Reply]:
        """Send every request at once: each thread connects, waits at a barrier, then sends.

        Replies come back in the order of ``requests``.
        """
        return run_together([self._sender(request) for request in requests])

    def _sender(self, request: Request) -> Callable[[threading.Barrier], Reply]:
        def send(barrier: threading.Barrier) -> Reply:
            connection = self.connect()
            try:
                barrier.wait(REQUEST_TIMEOUT)
            except BaseException:
                connection.close()
                raise
            return self.send(request, connection)

        return send

    def sign_in(self, username: str, password: str = PASSWORD) -> Caller:
        """Sign in over HTTP; the caller sends the bearer token."""
        reply = self.send(
            Request("POST", "/api/v1/auth/token", json={"username": username, "password": password})
        )
        assert reply.status == 200, reply.json
        return Caller(self, reply.json["access_token"])


def run_together(tasks: Sequence[Callable[[threading.Barrier], T]]) -> list[T]:
    """Run each task on its own thread; each calls ``barrier.wait()`` when ready to go.

    Returns the results in order; re-raises the first task's exception, if any.
    """
    barrier = threading.Barrier(len(tasks))
    results: list[Any] = [None] * len(tasks)
    failures: list[BaseException] = []

    def run(index: int, task: Callable[[threading.Barrier], T]) -> None:
        try:
            results[index] = task(barrier)
        except BaseException as error:
            barrier.abort()
            failures.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT * 2)
    if failures:
        raise failures[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("a request did not finish")
    return results


class Caller:
    """A signed-in user of the served API: paths are under ``/api/v1``."""

    def __init__(self, api: ServedApi, token: str) -> None:
        self.api = api
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """Build a request without sending it (for :meth:`ServedApi.race`)."""
        return Request(method, f"/api/v1{path}", self.token, json, headers or {})

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.api.send(self.request("GET", path, **kwargs))

    def put(self, path: str, **kwargs: Any) -> Reply:
        return self.api.send(self.request("PUT", path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.api.send(self.request("POST", path, **kwargs))


class ServedApp:
    """The app under gunicorn on a migrated database, and a local app to seed that database."""

    def __init__(self, database_url: str, server: Gunicorn, seeder: Flask) -> None:
        self.database_url = database_url
        self.server = server
        self.api = ServedApi(server.url)
        self.seeder = seeder

    def seed(self, build: Callable[[], T]) -> T:
        """Run ``build()`` (factories adding rows) in an app context and commit."""
        with self.seeder.app_context():
            result = build()
            db.session.commit()
            db.session.remove()
        return result

    def log(self) -> str:
        """The end of the server's log, to explain a failure."""
        return self.server.log()


def served_settings(database_url: str, evidence_dir: Path) -> dict[str, str]:
    """The served app's environment: the database, a local evidence folder, fast sign-ins."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "served-test-secret-" + "x" * 32,
        "EVIDENCE_STORE": f"file://{evidence_dir}",
        "SEEN_HEARD_ENV": "testing",
        **{name: str(value) for name, value in FAST_TEST_SETTINGS.items()},
    }


@contextmanager
def served_app(
    database_url: str,
    workdir: Path,
    *,
    workers: int = 4,
    threads: int = 2,
    timeout: int = 30,
    worker_class: str = "gthread",
    env: Mapping[str, str] | None = None,
) -> Iterator[ServedApp]:
    """Migrate ``database_url``, serve the app on it with gunicorn (gthread unless told), and
    stop it after. ``env`` adds to or overrides the served app's environment (the seeding app
    keeps a local evidence folder: it stores no evidence).
    """
    settings = served_settings(database_url, workdir / "evidence")
    seeder = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "EVIDENCE_STORE": settings["EVIDENCE_STORE"],
            **FAST_TEST_SETTINGS,
        }
    )
    try:
        with seeder.app_context():
            upgrade()
            db.session.remove()
        server = Gunicorn(
            {**settings, **(env or {})},
            timeout=timeout,
            workers=workers,
            worker_class=worker_class,
            threads=threads,
            log_path=workdir / "gunicorn.log",
        )
        with server:
            yield ServedApp(database_url, server, seeder)
    finally:
        with seeder.app_context():
            db.engine.dispose()
