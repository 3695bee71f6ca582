"""A JSON body sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``) under gunicorn:
past the size limit it is a 413 ``request.too_large``, as it is with a length; within it, it
is read whole. gunicorn de-chunks the body and sets ``wsgi.input_terminated``; Werkzeug then
stopped reading at the limit and handed back a truncated body (a 400 malformed JSON).
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.served import served_app

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chunked")
    with served_app(f"sqlite:///{workdir / 'served.db'}", workdir, workers=1, threads=2) as app:
        yield app


def send_chunked(port: int, path: str, body: bytes, piece: int = 64 * 1024) -> tuple[int, dict]:
    """POST ``body`` in chunks of ``piece`` bytes over a raw socket; the status and JSON reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        try:
            for start in range(0, len(body), piece):
                chunk = body[start : start + piece]
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b"0\r\n\r\n")
        except OSError:  # the app may answer and close before reading it all
            pass
        reply = b""
        while data := connection.recv(65536):
            reply += data
    head, _, content = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(content)


def test_a_chunked_body_over_the_limit_is_a_413(served):
    body = json.dumps({"username": "a", "password": "b", "pad": "x" * (2 * MIB)}).encode()
    status, problem = send_chunked(served.api.port, "/api/v1/auth/token", body)
    assert status == 413 and problem["code"] == "request.too_large", problem


def test_a_chunked_body_within_the_limit_is_read_whole(served):
    body = json.dumps({"username": "nobody", "password": "b" * 64, "pad": " " * 500_000})
    status, problem = send_chunked(served.api.port, "/api/v1/auth/token", body.encode())
    # Parsed whole: the unknown field is named (a truncated body would be malformed JSON).
    assert status == 422, problem
    assert "pad" in problem["errors"], problem
