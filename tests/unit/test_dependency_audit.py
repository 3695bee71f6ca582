"""``make audit`` (tests/dependency_audit.py) against a stand-in PyPI on loopback that answers
per project only, as the build machines' PyPI does: it must fail on a vulnerability in a pin, on
a virtualenv that is not the lock, and in CI when PyPI cannot be reached.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import metadata

import pytest

from tests import dependency_audit


def installed():
    """The virtualenv, pinned as a lock would pin it."""
    pins = {}
    for dist in metadata.distributions():
        name = dependency_audit.canonical(dist.metadata["Name"])
        if name != dependency_audit.THIS_PROJECT:
            pins[name] = dist.version
    return pins


@pytest.fixture
def pypi(monkeypatch):
    """A PyPI answering ``/pypi/NAME/json`` (latest = the pin, plus ``vulnerable``), 404 else."""
    pins = installed()
    vulnerable: dict[str, list[dict]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[2] != "json" or parts[1] not in pins:
                self.send_error(404)
                return
            body = {
                "info": {"version": pins[parts[1]]},
                "vulnerabilities": vulnerable.get(parts[1], []),
            }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PYPI_JSON_URL", f"http://127.0.0.1:{server.server_port}/pypi")
    monkeypatch.delenv("CI", raising=False)
    yield pins, vulnerable
    server.shutdown()
    server.server_close()


def write_lock(tmp_path, pins):
    lock = tmp_path / "constraints.txt"
    lock.write_text("# a comment\n" + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    return str(lock)


def test_a_lock_with_no_known_vulnerability_passes(pypi, tmp_path, capsys):
    pins, _ = pypi
    assert dependency_audit.main(write_lock(tmp_path, pins)) == 0
    out = capsys.readouterr().out
    assert f"{len(pins)} of {len(pins)} pins audited" in out
    assert "no known vulnerability" in out


def test_a_vulnerable_pin_fails_and_says_where_it_is_fixed(pypi, tmp_path, capsys):
    pins, vulnerable = pypi
    vulnerable["jinja2"] = [{"id": "GHSA-test-0001", "fixed_in": ["9.9.9"]}]
    assert dependency_audit.main(write_lock(tmp_path, pins)) == 1
    assert f"jinja2 {pins['jinja2']}: GHSA-test-0001 (fixed in 9.9.9)" in capsys.readouterr().out


def test_a_virtualenv_that_is_not_the_lock_fails(pypi, tmp_path, capsys):
    pins, _ = pypi
    del pins["jinja2"]
    assert dependency_audit.main(write_lock(tmp_path, pins)) == 1
    out = capsys.readouterr().out
    assert "jinja2" in out and "is installed but not locked" in out and "make lock" in out


def test_unreachable_pypi_fails_in_ci_and_only_warns_elsewhere(monkeypatch, tmp_path, capsys):
    lock = write_lock(tmp_path, installed())
    monkeypatch.setenv("PYPI_JSON_URL", "http://127.0.0.1:9/pypi")
    monkeypatch.delenv("CI", raising=False)
    assert dependency_audit.main(lock) == 0
    assert "NO AUDIT RAN" in capsys.readouterr().out
    monkeypatch.setenv("CI", "true")
    assert dependency_audit.main(lock) == 1
    assert "FAILED" in capsys.readouterr().out
