"""A real OpenID provider on loopback: the npm package ``oidc-provider`` run by Node.

It stands in for a council's identity provider. ``tests/idp/`` holds its package.json, lock and
``provider.mjs`` (read its header for the configuration). :func:`ensure_installed` runs
``npm ci`` there when ``node_modules`` is missing or older than the lock; :class:`IdentityProvider`
starts it on a free port, waits for its discovery document and stops it.

Without Node the tests that need it are skipped on a developer's machine, but fail under CI.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urljoin

import pytest
import requests

from tests.s3server import restartable_port

IDP_DIR = Path(__file__).resolve().parent / "idp"
START_TIMEOUT = 30


def node_or_skip() -> str:
    """The path of ``node``; skip (or, under CI, fail) the test when it is missing."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed to run the test OpenID provider (oidc-provider)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return node


def ensure_installed() -> None:
    """``npm ci`` into ``tests/idp`` when node_modules is missing or older than the lock."""
    lock = IDP_DIR / "package-lock.json"
    marker = IDP_DIR / "node_modules" / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm is not None
    subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=IDP_DIR,
        check=True,
        timeout=300,
    )


def signing_key(kid: str) -> dict[str, Any]:
    """A new RSA private key as a JWK named ``kid``, for :class:`IdentityProvider` ``keys``."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(RSAAlgorithm.to_jwk(private)), "kid": kid}


def desk_client(client_id: str, secret: str, redirect_uri: str) -> dict[str, Any]:
    """Client metadata for a web app using the authorization-code flow (PKCE is always required)."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


def machine_client(client_id: str, secret: str, roles: Sequence[str]) -> dict[str, Any]:
    """Client metadata for a caller using client credentials; its JWTs carry ``roles``."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "roles": list(roles),
    }


class IdentityProvider:
    """``oidc-provider`` in a Node subprocess on 127.0.0.1: ``start()``, ``stop()``, ``issuer``.

    ``clients`` is oidc-provider client metadata (see :func:`desk_client`,
    :func:`machine_client`); ``accounts`` maps a login name to its roles claim (other names get
    roles from their first part: ``supervisor.north`` -> ``["supervisor"]``, ``nobody`` -> none);
    ``first_party`` lists the clients that skip the consent screen; ``keys`` are its signing keys
    (private JWKs from :func:`signing_key`, the first signs; default: a fresh one per start). It
    can be stopped and started again on the same port (:meth:`restart` with other keys, to
    rotate them), paused to play a hung provider, and counts the fetches of its ``/jwks``.
    """

    def __init__(
        self,
        clients: Sequence[Mapping[str, Any]],
        *,
        accounts: Mapping[str, Sequence[str]] | None = None,
        first_party: Sequence[str] = (),
        resource: str | None = None,
        conform_id_token_claims: bool = True,
        port: int | None = None,
        keys: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.port = port or restartable_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config: dict[str, Any] = {
            "port": self.port,
            "issuer": self.issuer,
            "clients": [dict(client) for client in clients],
            "accounts": {name: list(roles) for name, roles in (accounts or {}).items()},
            "firstPartyClients": list(first_party),
            "conformIdTokenClaims": conform_id_token_claims,
        }
        if resource is not None:
            self.config["resource"] = resource
        if keys is not None:
            self.config["keys"] = [dict(key) for key in keys]
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def discovery_url(self) -> str:
        """The provider's OpenID configuration document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> IdentityProvider:
        """Start Node with ``provider.mjs`` and wait until discovery answers."""
        node = node_or_skip()
        ensure_installed()
        # stderr goes to a file, not a pipe nobody reads while it runs (a full pipe blocks Node).
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(  # noqa: S603 - node from PATH, our own script
            [node, "provider.mjs"],
            cwd=IDP_DIR,
            env={**os.environ, "IDP_CONFIG": json.dumps(self.config)},
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + START_TIMEOUT
        last_error: OSError | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self._stderr_text()
                self.stop()
                raise RuntimeError(f"oidc-provider exited at start:\n{errors}")
            try:
                urllib.request.urlopen(self.discovery_url, timeout=2).close()  # noqa: S310
                return self
            except OSError as error:
                last_error = error
                time.sleep(0.1)
        errors = self._stderr_text()
        self.stop()
        raise RuntimeError(
            f"oidc-provider did not answer at {self.discovery_url} within {START_TIMEOUT} s "
            f"(last error: {last_error!r}); its stderr:\n{errors}"
        )

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the provider (its sessions and keys go with it)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def jwks_url(self) -> str:
        """Where the provider publishes its public keys."""
        return f"{self.issuer}/jwks"

    def restart(self, keys: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Stop and start again on the same port, with ``keys`` if given (a key rotation)."""
        self.stop()
        if keys is not None:
            self.config["keys"] = [dict(key) for key in keys]
        self.start()

    def pause(self) -> None:
        """SIGSTOP the provider: connections are still accepted (by the kernel), never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused provider."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def _control(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.issuer}/__control/{path}", method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - loopback
            return json.load(reply)

    def jwks_requests(self) -> int:
        """How many times ``/jwks`` was fetched since this start."""
        return int(self._control("stats")["jwks_requests"])

    def serve_junk_jwks(self, junk: bool = True) -> None:
        """Make ``/jwks`` answer a truncated JSON body (or, with ``False``, its keys again)."""
        self._control(f"jwks?mode={'junk' if junk else 'normal'}", method="POST")

    def sign_in(self, authorize_url: str, login: str, redirect_uri: str) -> str:
        """Be a browser at the provider: follow its redirects from ``authorize_url``, fill its
        development login form as ``login``, and return the address it sends the browser back
        to (``redirect_uri`` with the code and state), without following that.
        """
        browser = requests.Session()
        url, method, data = authorize_url, "GET", None
        for _ in range(10):
            reply = browser.request(method, url, data=data, allow_redirects=False, timeout=10)
            if reply.is_redirect:
                url, method, data = urljoin(url, reply.headers["Location"]), "GET", None
                if url.startswith(redirect_uri):
                    return url
                continue
            form = re.search(r'<form[^>]*action="([^"]+)"', reply.text)
            if reply.status_code != 200 or not form or 'name="login"' not in reply.text:
                raise AssertionError(f"unexpected page at the provider: {reply.text[:500]}")
            url, method = urljoin(url, form[1]), "POST"
            data = {"prompt": "login", "login": login, "password": "any password"}
        raise AssertionError("the provider never sent the browser back")

    def client_credentials_token(self, client_id: str, secret: str, **params: str) -> str:
        """An access token (an RS256 JWT) for a :func:`machine_client`, e.g. for the API."""
        body = urllib.parse.urlencode({"grant_type": "client_credentials", **params}).encode()
        credentials = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
        request = urllib.request.Request(f"{self.issuer}/token", data=body, method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Authorization", f"Basic {base64.b64encode(credentials).decode()}")
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback
            return str(json.load(reply)["access_token"])


def desk_settings(
    app_config: Mapping[str, Any],
    provider: IdentityProvider,
    *,
    service_url: str,
    client_id: str,
    secret: str,
) -> dict[str, Any]:
    """Settings for another app on the test app's database and store, signing in at ``provider``
    as the desk client ``client_id`` (registered with ``service_url``'s callback).
    """
    from service.config import Settings

    return {
        **{name: app_config[name] for name in Settings.__dataclass_fields__},
        "SERVICE_URL": service_url,
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": secret,
        "OIDC_DISPLAY_NAME": "North Council",
        "OIDC_SCOPES": "openid profile roles",
    }


@contextmanager
def running(provider: IdentityProvider) -> Iterator[IdentityProvider]:
    """Start ``provider`` for the ``with`` block and always stop it afterwards."""
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
