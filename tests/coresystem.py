"""A stand-in for a council's core case system, speaking contract v1, for tests and benchmarks.

Run as its own process (``python -m tests.coresystem --port P``) so that its work is not the
test process's. It issues OAuth2 client-credentials tokens, stores visits by ``Idempotency-Key``
(a repeat is a logged replay), answers read-backs and case lookups, and logs every request.
Tests steer it through ``/_control/``: faults for the next requests (a status, ``Retry-After``,
a delay, a dropped connection, or storing and then failing the answer), expiring tokens,
forgetting or altering what it holds. :class:`CoreSystemServer` starts, stops and steers it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.s3server import restartable_port

ROOT = Path(__file__).resolve().parents[1]
MAX_BODY = 5 * 1024 * 1024


class State:
    """Everything the stand-in holds, behind one lock."""

    def __init__(self, client_id: str, client_secret: str, lifetime: int, static: str | None):
        self.lock = threading.Lock()
        self.client_id, self.client_secret = client_id, client_secret
        self.lifetime, self.static = lifetime, static
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, float] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.cases: dict[str, Any] = {}
        self.next_reference = 1

    def fault_for(self, method: str, path: str) -> dict[str, Any] | None:
        """The first fault matching this request, used up by one."""
        for fault in self.faults:
            if method == fault.get("method", "POST") and path.startswith(
                fault.get("path", "/visits")
            ):
                if fault.get("times", 1) > 0:
                    fault["times"] = fault.get("times", 1) - 1
                if fault.get("times") == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def authorised(self, header: str | None) -> bool:
        token = (header or "").removeprefix("Bearer ").strip()
        if self.static and token == self.static:
            return True
        return self.tokens.get(token, 0) > time.monotonic()


class Handler(BaseHTTPRequestHandler):
    """One request to the stand-in."""

    protocol_version = "HTTP/1.1"
    state: State

    def setup(self) -> None:
        """Send each answer at once, as production servers do (no Nagle delay on loopback)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        """Quiet: the log that matters is ``/_control/log``."""

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "too_large"})
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _json(self, raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return ...

    def do_GET(self) -> None:
        """Read-backs, case lookups and the control log."""
        state = self.state
        if self.path.startswith("/_control/"):
            with state.lock:
                if self.path == "/_control/log":
                    return self._answer(200, state.log)
                if self.path == "/_control/received":
                    return self._answer(200, state.received)
            return self._answer(404, {"error": "not_found"})
        with state.lock:
            if not state.authorised(self.headers.get("Authorization")):
                return self._unauthorised()
            fault = state.fault_for("GET", self.path)
            if fault is None and self.path.startswith("/visits/"):
                held = state.latest.get(self.path.removeprefix("/visits/"))
                answer = (200, held) if held else (404, {"error": "not_found"})
            elif fault is None and self.path.startswith("/cases/"):
                case = state.cases.get(self.path.removeprefix("/cases/"))
                answer = (200, case) if case else (404, {"error": "not_found"})
            elif fault is None:
                answer = (404, {"error": "not_found"})
            state.log.append(self._entry("GET", fault.get("status", 0) if fault else answer[0]))
        if fault:
            return self._fault(fault)
        return self._answer(*answer)

    def do_POST(self) -> None:
        """Tokens, visits and the control API."""
        raw = self._body()
        if raw is None:
            return None
        if self.path.startswith("/_control/"):
            return self._control(self._json(raw))
        if self.path == "/oauth/token":
            return self._token(raw)
        if self.path != "/visits":
            return self._answer(404, {"error": "not_found"})
        return self._visit(raw)

    def do_DELETE(self) -> None:
        """``DELETE /_control/faults``."""
        if self.path == "/_control/faults":
            with self.state.lock:
                self.state.faults.clear()
            return self._answer(204)
        return self._answer(404, {"error": "not_found"})

    def _entry(self, method: str, status: int, **fields: Any) -> dict[str, Any]:
        return {
            "seq": len(self.state.log) + 1,
            "method": method,
            "path": self.path,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "status": status,
            "at": time.monotonic(),
            "replay": False,
            "visit_id": None,
            "version": None,
            **fields,
        }

    def _unauthorised(self) -> None:
        self.state.log.append(self._entry(self.command, 401))
        self._answer(
            401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )

    def _token(self, raw: bytes) -> None:
        state = self.state
        form = {k: v[0] for k, v in parse_qs(raw.decode("latin-1")).items()}
        client = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            import base64

            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            client = urllib.request.unquote(user), urllib.request.unquote(password)
        with state.lock:
            ok = form.get("grant_type") == "client_credentials" and client == (
                state.client_id,
                state.client_secret,
            )
            state.log.append(self._entry("POST", 200 if ok else 401))
            if ok:
                token = secrets.token_urlsafe(24)
                state.tokens[token] = time.monotonic() + state.lifetime
        if not ok:
            return self._answer(401, {"error": "invalid_client"})
        body = {"access_token": token, "token_type": "Bearer", "expires_in": state.lifetime}
        return self._answer(200, body)

    def _visit(self, raw: bytes) -> None:
        state = self.state
        key = self.headers.get("Idempotency-Key")
        body = self._json(raw)
        with state.lock:
            if not state.authorised(self.headers.get("Authorization")):
                return self._unauthorised()
            if not key or not isinstance(body, dict):
                state.log.append(self._entry("POST", 400))
                return self._answer(400, {"error": "bad_request"})
            reference = body.get("external_reference") or {}
            visit_id, version = reference.get("visit_id"), reference.get("version")
            fault = state.fault_for("POST", self.path)
            if fault and not fault.get("after_store"):
                state.log.append(
                    self._entry("POST", fault.get("status", 0), visit_id=visit_id, version=version)
                )
                answer = None
            else:
                answer = self._store(key, body, visit_id, version)
        if fault and not fault.get("after_store"):
            return self._fault(fault)
        if fault:
            return self._fault({**fault, "status": fault.get("status", answer[0])}, answer[1])
        return self._answer(*answer)

    def _store(
        self, key: str, body: dict[str, Any], visit_id: Any, version: Any
    ) -> tuple[int, Any]:
        state = self.state
        held = state.by_key.get(key)
        if held is not None:
            same = held["body"] == body
            status = 200 if same else 409
            state.log.append(
                self._entry("POST", status, visit_id=visit_id, version=version, replay=same)
            )
            if not same:
                return 409, {"error": "idempotency_key_reused"}
            return 200, {"reference": held["reference"], "received_at": held["received_at"]}
        reference = f"CN-{state.next_reference}"
        state.next_reference += 1
        item = {
            "key": key,
            "reference": reference,
            "visit_id": visit_id,
            "version": version,
            "body": body,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        state.by_key[key] = item
        state.received.append(item)
        state.latest[str(visit_id)] = {"reference": reference, "version": version, "body": body}
        state.log.append(self._entry("POST", 201, visit_id=visit_id, version=version))
        return 201, {"reference": reference, "received_at": item["received_at"]}

    def _fault(self, fault: dict[str, Any], body: Any = None) -> None:
        if fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        headers = {}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        status = int(fault.get("status", 500))
        self._answer(status, body if body is not None else {"error": f"fault_{status}"}, headers)

    def _control(self, body: Any) -> None:
        state = self.state
        with state.lock:
            if self.path == "/_control/faults" and isinstance(body, list):
                state.faults.extend(dict(fault) for fault in body)
            elif self.path == "/_control/expire-tokens":
                state.tokens = {token: 0.0 for token in state.tokens}
            elif self.path == "/_control/cases" and isinstance(body, dict):
                state.cases.update(body)
            elif self.path == "/_control/forget" and isinstance(body, dict):
                state.latest.pop(str(body.get("visit_id")), None)
            elif self.path == "/_control/tamper" and isinstance(body, dict):
                held = state.latest[str(body["visit_id"])]
                held["body"] = body["body"]
            elif self.path == "/_control/reset":
                state.reset()
            else:
                return self._answer(404, {"error": "not_found"})
        return self._answer(204)


def serve(port: int, state: State) -> None:
    """Serve until SIGTERM."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *args: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.1)
    server.server_close()


class CoreSystemServer:
    """The stand-in in a subprocess on a loopback port: ``start()``, ``stop()`` (the same port
    again on the next ``start()``, so an outage can end), and the control calls. State is lost
    across a restart, as it would be in memory; what was received before is kept here.
    """

    def __init__(
        self,
        port: int | None = None,
        client_id: str = "seen-and-heard",
        client_secret: str = "s3cret",  # noqa: S107 - the stand-in's test credential
        static_token: str | None = None,
        token_lifetime: int = 300,
    ) -> None:
        self.port = port or restartable_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_url = f"{self.url}/oauth/token"
        self.args = [
            "--port",
            str(self.port),
            "--client-id",
            client_id,
            "--client-secret",
            client_secret,
            "--token-lifetime",
            str(token_lifetime),
        ] + (["--static-token", static_token] if static_token else [])
        self.process: subprocess.Popen[bytes] | None = None
        self.earlier_log: list[dict[str, Any]] = []
        self.earlier_received: list[dict[str, Any]] = []

    def start(self) -> CoreSystemServer:
        """Start it and wait until it answers."""
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "tests.coresystem", *self.args], cwd=ROOT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self._call("GET", "/_control/log")
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the stand-in core system did not start")

    def stop(self) -> None:
        """Stop it (connections are refused until ``start()``); keeps what it had logged."""
        if self.process is None:
            return
        try:
            self.earlier_log += self._call("GET", "/_control/log")
            self.earlier_received += self._call("GET", "/_control/received")
        except OSError:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            raw = response.read()
        return json.loads(raw) if raw else None

    def faults(self, faults: list[dict[str, Any]]) -> None:
        """Fail the next matching requests (see the module docstring)."""
        self._call("POST", "/_control/faults", faults)

    def clear_faults(self) -> None:
        self._call("DELETE", "/_control/faults")

    def expire_tokens(self) -> None:
        self._call("POST", "/_control/expire-tokens", {})

    def load_cases(self, cases: dict[str, Any]) -> None:
        self._call("POST", "/_control/cases", cases)

    def forget(self, visit_id: str) -> None:
        self._call("POST", "/_control/forget", {"visit_id": visit_id})

    def tamper(self, visit_id: str, body: dict[str, Any]) -> None:
        self._call("POST", "/_control/tamper", {"visit_id": visit_id, "body": body})

    def reset(self) -> None:
        """Forget everything, this run's earlier lives included."""
        self.earlier_log, self.earlier_received = [], []
        if self.process is not None:
            self._call("POST", "/_control/reset", {})

    def log(self) -> list[dict[str, Any]]:
        """Every request to /visits, /cases and /oauth/token, in order, across restarts."""
        return self.earlier_log + self._call("GET", "/_control/log")

    def received(self) -> list[dict[str, Any]]:
        """Every visit stored (replays are not stored again), in arrival order."""
        return self.earlier_received + self._call("GET", "/_control/received")

    def __enter__(self) -> CoreSystemServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """``python -m tests.coresystem --port P [--client-id ...]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", default="seen-and-heard")
    parser.add_argument("--client-secret", default="s3cret")
    parser.add_argument("--static-token")
    parser.add_argument("--token-lifetime", type=int, default=300)
    args = parser.parse_args()
    serve(
        args.port, State(args.client_id, args.client_secret, args.token_lifetime, args.static_token)
    )


if __name__ == "__main__":
    main()
