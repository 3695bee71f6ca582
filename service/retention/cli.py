"""``flask retention``: recompute disposal dates; purge the cases whose time has come."""

from __future__ import annotations

import logging
import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service.auth.models import User
from service.auth.operations import find_active_user
from service.database import unavailable
from service.errors import NotFound
from service.evidence.operations import evidence_store
from service.extensions import db
from service.retention import operations, purge
from storage import StorageError

retention = AppGroup("retention", help="Retention: disposal dates, legal hold, purge.")
log = logging.getLogger(__name__)


@retention.command("recompute")
def recompute_command() -> None:
    """Recompute every case's retention class and disposal date from its records."""
    cases, changed = operations.recompute_all()
    db.session.commit()
    click.echo(f"{cases} cases, {changed} changed")


def _operator(name_or_id: str) -> User:
    try:
        user = find_active_user(name_or_id)
    except NotFound:
        user = None
    if user is None or user.role not in ("admin", "manager"):
        raise click.ClickException(f"--by: no active admin or manager {name_or_id!r}")
    return user


def _line(item: purge.DueCase) -> str:
    disposal = item.disposal_date.isoformat() if item.disposal_date else "-"
    state = " (purge started earlier: resuming)" if item.resuming else ""
    return (
        f"case {item.case_id} {item.retention_class} due {disposal}: "
        f"{item.visits} visits, {item.objects} evidence objects, "
        f"children {', '.join(map(str, item.child_ids)) or '-'}{state}"
    )


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="List what is due; change nothing.")
@click.option("--limit", type=click.IntRange(1), help="Purge at most this many cases.")
@click.option(
    "--by",
    "by",
    metavar="USER",
    help="Who is running the purge (an admin or manager: username or id); required without "
    "--dry-run.",
)
def purge_command(dry_run: bool, limit: int | None, by: str | None) -> None:
    """Delete the records and stored evidence of every case past its disposal date.

    Cases on legal hold are skipped. Each case is marked, its objects deleted, then its rows
    deleted with an audit tombstone in one transaction; a run that stops part-way is finished
    by the next, which takes the marked cases first. Exits 1 if any case failed.
    """
    if not dry_run and not by:
        raise click.UsageError(
            "--by USER is required: the audit trail names who disposed of records"
        )
    actor = _operator(by) if by else None
    due = purge.due_for_purge(limit)
    held = purge.due_on_hold()
    db.session.rollback()
    if held:
        click.echo(f"{held} due cases on legal hold: left alone, not listed")
    still_open = operations.past_date_but_open()
    if still_open:
        click.echo(f"{still_open} cases past their disposal date are still open: left alone")
    if dry_run:
        for item in due:
            click.echo(_line(item))
        click.echo(f"{len(due)} cases due (dry run: nothing changed)")
        return
    store = evidence_store()
    done: list[purge.Purged] = []
    failed = 0
    with click.progressbar(due, label="Purging cases", file=sys.stderr) as cases:
        for item in cases:
            try:
                result = purge.purge(item.case_id, store, actor)
            except (SQLAlchemyError, StorageError, OSError) as error:
                db.session.rollback()
                if isinstance(error, DBAPIError) and unavailable(error):
                    raise  # every case after it would wait as long: stop, with the message
                failed += 1
                # The error's type only: a database message can quote the row it refused.
                log.error("purge of case %s stopped: %s", item.case_id, type(error).__name__)
                continue
            if result is not None:
                done.append(result)
    for result in done:
        click.echo(
            f"purged case {result.case_id}: {result.visits} visits, {result.objects} evidence "
            f"objects; children deleted {len(result.children_deleted)}, "
            f"kept (on other cases) {len(result.children_kept)}"
        )
    changed = len(due) - len(done) - failed
    click.echo(
        f"{len(done)} cases purged, {held} on legal hold left alone, "
        f"{changed} no longer due when reached (held or purged meanwhile), {failed} failed"
    )
    if failed:
        click.echo("re-run `flask retention purge` to finish the failed cases", err=True)
        sys.exit(1)
