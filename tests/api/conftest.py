"""Every log record the API and CLI tests cause is kept and, at the end of the run, searched for
what a child said or a care leaver wrote, passwords, tokens and invite links: none of it may
reach a log (DESIGN.md §9). Imported by tests/integration/conftest.py for the CLI tests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from tests.factories import (
    CONTACT_DETAIL,
    CONTACT_NAME,
    OBSERVATIONS,
    OWN_WORDS,
    PASSWORD,
    URGENT_MESSAGE,
)

PRIVATE = (
    OWN_WORDS,
    OBSERVATIONS,
    URGENT_MESSAGE,
    CONTACT_NAME,
    CONTACT_DETAIL,
    "My flat is cold.",
    PASSWORD,
)
# A JWT (access or refresh token, signed invite), or a care leaver's invite link.
SECRETS = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}|invite=[\w.-]{8,}")


class LogRecorder(logging.Handler):
    """Keeps each record as a log file would show it: the message and any traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def leaks(self) -> list[tuple[str, str]]:
        """``(private text, the log line holding it)`` for every leak."""
        found = [(text, line) for line in self.lines for text in PRIVATE if text in line]
        return found + [("a secret", line) for line in self.lines if SECRETS.search(line)]


@pytest.fixture(scope="session", autouse=True)
def api_log_recorder() -> Iterator[LogRecorder]:
    """Kept for the whole run and checked once every test has finished."""
    recorder = LogRecorder()
    try:
        yield recorder
    finally:
        logging.getLogger().removeHandler(recorder)
    leaks = recorder.leaks()
    assert not leaks, f"{len(leaks)} log line(s) hold private words, first: {leaks[0]}"


@pytest.fixture(autouse=True)
def _record_this_test(api_log_recorder: LogRecorder) -> None:
    """Attach the recorder to the root logger for this test, at the level the service logs at.

    Each test re-attaches it, as pytest does its own capture: running the migrations (the
    session's ``app``) applies alembic.ini's logging config, which replaces the root logger's
    handlers and raises its level to WARNING, while a served app logs from INFO up.
    """
    root = logging.getLogger()
    if api_log_recorder not in root.handlers:
        root.addHandler(api_log_recorder)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
