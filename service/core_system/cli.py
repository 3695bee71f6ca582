"""``flask outbox run | status | retry | reconcile``: the core-system delivery worker."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from service.core_system import worker
from service.core_system.adapters import core_system
from service.core_system.models import MessageStatus, OutboxMessage
from service.core_system.outbox import backlog
from service.core_system.reconcile import reconcile as compare
from service.errors import DomainError
from service.extensions import db


@click.group()
def outbox() -> None:
    """Delivering approved visits to the core case system."""


@outbox.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@with_appcontext
def run(once: bool) -> None:
    """Deliver approved visits to the core system until stopped (SIGTERM or Ctrl-C).

    Run it beside gunicorn; on PostgreSQL several may run at once. On a stop signal it finishes
    the message in hand, gives back the rest of its batch, and exits.
    """
    stop = threading.Event()

    def stop_gracefully(signum: int, frame: FrameType | None) -> None:
        click.echo(f"outbox worker: {signal.Signals(signum).name}, stopping after this message")
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_gracefully)
    tried = worker.run(stop, once=once)
    click.echo(f"outbox worker stopped after {tried} deliveries tried.")


@outbox.command("status")
@with_appcontext
def status() -> None:
    """Print how many messages are pending, delivered and dead, the oldest undelivered one's
    age, and each dead letter. Exits 1 when there are dead letters.
    """
    summary = backlog(delivered=True)
    age = summary["oldest_undelivered_seconds"]
    click.echo(
        f"core system: {core_system().name}\n"
        f"pending: {summary['pending']}\ndelivered: {summary['delivered']}\n"
        f"dead letters: {summary['dead']}\n"
        f"oldest undelivered: {'none' if age is None else f'{age:.0f} s'}"
    )
    dead = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == MessageStatus.DEAD).limit(50)
    )
    for message in dead:
        about = (
            f"visit {message.visit_id} v{message.version_number}"
            if message.visit_id
            else message.event
        )
        click.echo(
            f"  dead #{message.id} {about}: {message.last_error} after {message.attempts} attempts"
        )
    if summary["dead"]:
        raise SystemExit(1)


@outbox.command("retry")
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Retry every dead letter.")
@with_appcontext
def retry(message_ids: tuple[int, ...], all_dead: bool) -> None:
    """Put dead letters back in the queue, by id or all of them."""
    from service.core_system.outbox import retry as retry_message

    ids = list(message_ids)
    if all_dead:
        ids += list(
            db.session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.status == MessageStatus.DEAD)
            )
        )
    if not ids:
        if all_dead:
            click.echo("There are no dead letters.")
            return
        raise click.UsageError("name message ids, or --all-dead")
    for message_id in ids:
        try:
            retry_message(None, message_id)
        except DomainError as refusal:
            db.session.rollback()
            raise click.ClickException(f"message {message_id}: {refusal.detail}") from None
    db.session.commit()
    click.echo(f"{len(ids)} messages queued again.")


@outbox.command("backfill")
@with_appcontext
def backfill_approved() -> None:
    """Queue every approved visit that has never been queued (approved before this service
    delivered to the core system). Run it once, after upgrading, if the council wants them sent.
    """
    from service.core_system.outbox import backfill

    count = 0
    while queued := backfill(limit=500):  # a bounded batch at a time, each committed
        count += queued
        db.session.commit()
    click.echo(f"{count} approved visits queued for the core system.")


@outbox.command("reconcile")
@with_appcontext
def reconcile() -> None:
    """Read back every delivered visit from the core system and report any it no longer holds,
    or holds at another version or with other content. Exits 1 when something differs.
    """
    checked, differences = compare(core_system())
    for difference in differences[:500]:
        click.echo(str(difference))
    if differences:
        raise click.ClickException(f"{len(differences)} of {checked} delivered visits differ.")
    click.echo(f"All {checked} delivered visits are held by the core system as delivered.")
