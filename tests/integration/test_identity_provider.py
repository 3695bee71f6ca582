"""The test OpenID provider itself (tests/identity_provider.py): it starts, publishes its keys,
and issues RS256 JWT access tokens carrying roles to a client-credentials caller.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import jwt
import pytest

from tests.identity_provider import IdentityProvider, machine_client, running

API = "https://api.council.test/"


@pytest.fixture(scope="module")
def provider():
    with running(
        IdentityProvider(
            [machine_client("reporting", "reporting-secret", ["manager"])], resource=API
        )
    ) as started:
        yield started


def test_discovery_names_the_loopback_issuer_and_s256(provider):
    with urllib.request.urlopen(provider.discovery_url, timeout=5) as reply:  # noqa: S310
        document = json.load(reply)
    assert document["issuer"] == provider.issuer
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "roles" in document["claims_supported"]


def test_client_credentials_give_an_rs256_jwt_with_roles_for_the_api(provider):
    token = provider.client_credentials_token("reporting", "reporting-secret")
    key = jwt.PyJWKClient(f"{provider.issuer}/jwks").get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=API, issuer=provider.issuer)
    assert claims["roles"] == ["manager"]
    assert claims["preferred_username"] == "reporting"


def test_a_wrong_client_secret_is_refused(provider):
    with pytest.raises(urllib.error.HTTPError) as refused:
        provider.client_credentials_token("reporting", "not-the-secret")
    assert refused.value.code == 401
    refused.value.close()
