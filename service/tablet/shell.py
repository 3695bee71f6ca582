"""The tablet app's shell: the files its service worker keeps for offline use, and their version.

Every file is listed with a revision (the start of its SHA-256), and the app's version is the
digest of them all, so changing any file changes the service worker's bytes: the browser installs
the new worker beside the old one and the app tells the worker a new version is ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "static"

# What the app needs to start and run with no network, under /static. The fonts are the
# WOFF2 ones: every browser that runs a service worker reads WOFF2.
SHELL_FILES = (
    "govuk/govuk-frontend.min.css",
    "govuk/assets/fonts/bold-b542beb274-v2.woff2",
    "govuk/assets/fonts/light-94a07e06a1-v2.woff2",
    "govuk/assets/images/govuk-crest.svg",
    "govuk/assets/images/favicon.ico",
    "govuk/assets/images/govuk-icon-192.png",
    "govuk/assets/images/govuk-icon-512.png",
    "vendor/dexie/dexie.min.js",
    "vendor/signature_pad/signature_pad.umd.min.js",
    "vendor/workbox/workbox-window.prod.umd.js",
    "app/app.css",
    "app/main.js",
    "app/store.js",
    "app/api.js",
    "app/sync.js",
    "app/rules.js",
    "app/html.js",
    "app/caseload.js",
    "app/visit.js",
    "app/child.js",
    "app/evidence.js",
    "app/finish.js",
    "app/conflict.js",
)


@dataclass(frozen=True)
class Shell:
    """The precache list (URL and revision of each file) and the version it makes."""

    entries: tuple[tuple[str, str], ...]
    version: str


def _revision(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def build_shell(index_page: bytes, manifest: bytes, static_url: Callable[[str], str]) -> Shell:
    """The shell: the app's page and manifest (as served) and every file in ``SHELL_FILES``."""
    entries = [("/app/", _revision(index_page)), ("/app/manifest.webmanifest", _revision(manifest))]
    entries += [(static_url(name), _revision((STATIC / name).read_bytes())) for name in SHELL_FILES]
    version = _revision("\n".join(f"{url} {rev}" for url, rev in entries).encode())
    return Shell(tuple(entries), version)
