"""Issue #13: ``/readyz`` answers within 2 s when the S3 evidence store hangs.

The store's endpoint is a loopback socket that accepts connections (the kernel completes the
handshake) and never answers a byte, as a stopped server would.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from service import create_app
from service.config import Settings


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_readyz_answers_within_2_s_when_the_store_hangs(app, silent_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "hung-store-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hung-store-secret")
    hung: Flask = create_app(
        {
            **{name: app.config[name] for name in Settings.__dataclass_fields__},
            "EVIDENCE_STORE": "s3://evidence/council",
            "S3_ENDPOINT_URL": silent_endpoint,
            "S3_ADDRESSING_STYLE": "path",
        }
    )
    client = hung.test_client()
    for _ in range(3):
        started = time.monotonic()
        reply = client.get("/readyz")
        took = time.monotonic() - started
        print(f"measured: store hung, GET /readyz -> {reply.status_code} in {took:.2f} s")
        assert took < 2, took
        assert reply.status_code == 503 and reply.headers["Retry-After"]
        checks = reply.get_json()["checks"]
        assert (checks["database"], checks["evidence_store"]) == ("ok", "unavailable")
