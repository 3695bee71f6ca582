"""``make audit``: the locked dependency set (constraints.txt) against PyPI's vulnerability data.

1. The virtualenv must be the lock: a distribution installed but not locked, or at another
   version, was never audited (run ``make lock``).
2. Where PyPI answers per release (``/pypi/NAME/VERSION/json``), ``pip-audit --strict`` audits
   every pin: a known vulnerability, or a pin it could not audit, fails.
3. Where only the per-project answer is served (``/pypi/NAME/json``, as on some mirrors and in
   this project's own workplace), each pin that is the project's latest release is checked
   against that answer's ``vulnerabilities`` (which are the latest release's); older pins are
   listed as not audited. A vulnerability fails.
4. Where PyPI does not answer at all: with ``CI`` set this fails; elsewhere it says plainly that
   no audit ran, and passes, so ``make test`` works on a laptop offline.

Run as ``python -m tests.dependency_audit constraints.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

THIS_PROJECT = "seen-and-heard"


def canonical(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def locked(path: Path) -> dict[str, str]:
    """``{name: version}`` for each ``name==version`` line of the lock."""
    pins = {}
    for line in path.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            pins[canonical(name)] = version.strip()
    return pins


def drift(pins: dict[str, str]) -> list[str]:
    """What the virtualenv holds that the lock does not say: each was never audited."""
    problems = []
    for dist in metadata.distributions():
        name, version = canonical(dist.metadata["Name"]), dist.version
        if name == THIS_PROJECT:
            continue
        if name not in pins:
            problems.append(f"{name} {version} is installed but not locked")
        elif pins[name] != version:
            problems.append(f"{name} is {version} here, {pins[name]} in the lock")
    return problems


def fetch(url: str) -> dict | None:
    """PyPI's JSON at ``url``; None when it answers 404. Other failures raise OSError."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (https, fixed host)
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def latest_release_check(pypi: str, pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(vulnerabilities, not audited)`` from the per-project answers (see the module doc)."""

    def one(item: tuple[str, str]) -> tuple[str, str, dict | None]:
        name, version = item
        return name, version, fetch(f"{pypi}/{name}/json")

    found, unaudited = [], []
    with ThreadPoolExecutor(8) as pool:
        for name, version, project in pool.map(one, sorted(pins.items())):
            if project is None:
                unaudited.append(f"{name} {version}: not on PyPI")
            elif project["info"]["version"] != version:
                unaudited.append(f"{name} {version}: older than {project['info']['version']}")
            else:
                for vulnerability in project.get("vulnerabilities") or []:
                    fixed = ", ".join(vulnerability.get("fixed_in") or []) or "no fix yet"
                    found.append(f"{name} {version}: {vulnerability['id']} (fixed in {fixed})")
    return found, unaudited


def main(lock: str) -> int:
    """Audit; return the exit status. ``PYPI_JSON_URL`` names another PyPI (a mirror)."""
    pypi = os.environ.get("PYPI_JSON_URL", "https://pypi.org/pypi")
    pins = locked(Path(lock))
    problems = drift(pins)
    if problems:
        print(f"make audit: the virtualenv is not {lock}; run `make lock` (then `make install`):")
        print("\n".join(f"  {problem}" for problem in problems))
        return 1
    name, version = next(iter(sorted(pins.items())))
    try:
        per_release = fetch(f"{pypi}/{name}/{version}/json") is not None
        per_project = per_release or fetch(f"{pypi}/{name}/json") is not None
    except OSError as error:
        print(f"make audit: PyPI's vulnerability data is unreachable ({error}).")
        if os.environ.get("CI"):
            print("make audit: FAILED: CI must audit the locked dependencies.")
            return 1
        print("make audit: NO AUDIT RAN (offline?). Run `make audit` again when online.")
        return 0
    if per_release:
        command = [sys.executable, "-m", "pip_audit", "--requirement", lock, "--no-deps"]
        command += ["--disable-pip", "--strict", "--progress-spinner", "off"]
        return subprocess.run(command, check=False).returncode  # noqa: S603 (our own argv)
    if not per_project:
        print(f"make audit: FAILED: PyPI knows no {name} {version}.")
        return 1
    found, unaudited = latest_release_check(pypi, pins)
    audited = len(pins) - len(unaudited)
    print(f"make audit: PyPI answers per project only: {audited} of {len(pins)} pins audited")
    print("  (each the latest release); not audited here, pip-audit checks them where it can:")
    print("\n".join(f"    {line}" for line in unaudited))
    if found:
        print("make audit: FAILED: known vulnerabilities:")
        print("\n".join(f"  {line}" for line in found))
        return 1
    print("make audit: no known vulnerability in the audited pins.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "constraints.txt"))
