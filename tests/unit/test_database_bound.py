"""The database bound outside requests: which errors mean the database is away, how the outbox
worker paces its retries, and the commands' one-line message (service/database.py,
service/core_system/schedules.py). The real hangs are in
tests/integration/test_hung_database_commands.py.
"""

from __future__ import annotations

import logging
import sqlite3

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import errors as pg
from sqlalchemy.exc import IntegrityError, OperationalError

from service.core_system.schedules import DatabaseOutage
from service.database import AnswerTimeout, explain_database_failures, unavailable


def wrapped(driver_error: Exception, kind=OperationalError):
    return kind("SELECT own_words FROM voice WHERE id = %(id)s", {"id": "x"}, driver_error)


@pytest.mark.parametrize(
    ("error", "away"),
    [
        (wrapped(psycopg.OperationalError("the database did not answer within 2 s")), True),
        (wrapped(psycopg.OperationalError("connection failed: Connection refused")), True),
        (wrapped(pg.DeadlockDetected("deadlock detected")), False),
        (wrapped(pg.UniqueViolation("duplicate key"), IntegrityError), False),
    ],
)
def test_only_a_lost_or_unmade_connection_counts_as_the_database_away(error, away):
    assert unavailable(error) is away


def test_the_worker_waits_longer_each_try_up_to_30_s_and_afresh_after(caplog):
    outage = DatabaseOutage("host:1:2")
    error = wrapped(psycopg.OperationalError("the database did not answer within 2 s"))
    with caplog.at_level(logging.WARNING):
        pauses = [outage.failed(error) for _ in range(8)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(c / 2 <= p <= c for p, c in zip(pauses, ceilings, strict=True)), pauses
    assert "the database did not answer within 2 s" in caplog.text
    assert "SELECT" not in caplog.text and "own_words" not in caplog.text
    outage.over()
    assert "answers again" in caplog.text
    assert outage.failed(error) <= 1


def test_a_command_meeting_an_absent_database_says_so_in_one_line():
    @click.group()
    def group() -> None:
        """A group."""

    @group.command("read")
    def read() -> None:
        """A command whose database went away."""
        raise wrapped(psycopg.OperationalError("the database did not answer within 2 s"))

    @group.command("refused")
    def refused() -> None:
        """A command whose statement was refused: not an outage, left as it is."""
        raise wrapped(pg.UniqueViolation("duplicate key"), IntegrityError)

    explain_database_failures(group)
    explain_database_failures(group)  # built again by another app: wrapped once
    assert not hasattr(read.callback.__wrapped__, "__wrapped__")
    result = CliRunner().invoke(group, ["read"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: the database is unavailable (the database did not answer within 2 s)"
    )
    assert "own_words" not in result.output
    assert isinstance(CliRunner().invoke(group, ["refused"]).exception, IntegrityError)


def message_for(driver_error: Exception) -> str:
    """The one line a command gives when ``driver_error`` ends it."""

    @click.group()
    def group() -> None:
        """A group."""

    @group.command("read")
    def read() -> None:
        """A command whose database went away."""
        raise wrapped(driver_error)

    explain_database_failures(group)
    result = CliRunner().invoke(group, ["read"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    return line


def answer_timeout(setting: str) -> AnswerTimeout:
    error = AnswerTimeout("the database did not answer within 30 s")
    error.setting = setting
    return error


@pytest.mark.parametrize(
    "setting", ["COMMAND_DATABASE_TIMEOUT_SECONDS", "WORKER_DATABASE_TIMEOUT_SECONDS"]
)
def test_a_wait_that_ran_out_names_the_bound_in_force(setting):
    line = message_for(answer_timeout(setting))
    assert "(the database did not answer within 30 s)" in line
    assert line.endswith(f"answers ({setting} bounds each wait for an answer).")


def test_a_connection_that_timed_out_names_the_bound_on_connecting():
    line = message_for(pg.ConnectionTimeout("connection timeout expired"))
    assert "(connection timeout expired)" in line
    assert line.endswith("answers (DATABASE_TIMEOUT_SECONDS bounds connecting).")
    assert "COMMAND_DATABASE_TIMEOUT_SECONDS" not in line


def test_a_refused_connection_names_no_bound():
    line = message_for(psycopg.OperationalError("connection failed: Connection refused"))
    assert line.endswith("Run it again once the database answers.")
    assert "TIMEOUT_SECONDS" not in line


def test_the_worker_log_names_the_bound_that_ran_out(caplog):
    outage = DatabaseOutage("host:1:2")
    with caplog.at_level(logging.WARNING):
        outage.failed(wrapped(pg.ConnectionTimeout("connection timeout expired")))
        outage.failed(wrapped(answer_timeout("WORKER_DATABASE_TIMEOUT_SECONDS")))
    first, second = (record.getMessage() for record in caplog.records)
    assert "(connection timeout expired; DATABASE_TIMEOUT_SECONDS bounds connecting)" in first
    assert (
        "(the database did not answer within 30 s; "
        "WORKER_DATABASE_TIMEOUT_SECONDS bounds each wait for an answer)" in second
    )


def test_sqlite_locked_names_the_bound_on_its_lock():
    line = message_for(sqlite3.OperationalError("database is locked"))
    assert line.endswith("answers (DATABASE_TIMEOUT_SECONDS bounds the wait for SQLite's lock).")
