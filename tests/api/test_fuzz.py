"""Fuzzing from the OpenAPI document: no request, however malformed, gets a 500.

Schemathesis generates valid and invalid requests for every operation in
``/api/v1/openapi.json`` and sends them, signed in as a social worker, through the WSGI app.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES_PER_MODE = int(os.environ.get("FUZZ_EXAMPLES", "30"))


def operations(app):
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in loaded.get_all_operations()]


def fuzz(operation, mode, headers, failures):
    """Send generated requests for one operation; record any that get a 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        response = case.call(headers={**(case.headers or {}), **headers})
        if response.status_code >= 500:
            failures.append((case.method, case.formatted_path, case.body, response.text[:200]))

    send()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_request_gets_a_server_error(app, world, sign_in, mode):
    failures = []
    for operation in operations(app):
        # A fresh session per operation: fuzzing /auth/logout revokes the one it holds.
        token = sign_in(world.usernames["worker_a"]).token
        fuzz(operation, mode, {"Authorization": f"Bearer {token}"}, failures)
    assert not failures, failures[:3]
