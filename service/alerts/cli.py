"""``flask alerts scan | address``: the scheduled alerts once, and where a person's go."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from service.alerts import operations
from service.alerts.scan import scan as scan_now
from service.audit.events import Action, Subject
from service.audit.trail import record
from service.auth.models import User
from service.config import ConfigError, email_address
from service.extensions import db


@click.group()
def alerts() -> None:
    """Alerts to the people who must act."""


@alerts.command("scan")
@with_appcontext
def scan() -> None:
    """Make today's scheduled alerts now (the outbox worker does this every
    ALERTS_SCAN_INTERVAL_SECONDS); nothing before ALERTS_DIGEST_HOUR, never twice a day.
    """
    made = scan_now()
    if not made:
        click.echo("Before the digest hour: nothing to do yet.")
        return
    for kind, count in made.items():
        click.echo(f"{kind}: {count} alerts made")


@alerts.command("address")
@click.argument("username")
@click.argument("email", required=False)
@with_appcontext
def address(username: str, email: str | None) -> None:
    """Set the address USERNAME's alerts are emailed to (none given: remove it)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    if email:
        try:
            email_address("EMAIL", email)
        except ConfigError:
            raise click.ClickException("that is not an email address") from None
    operations.set_address(user, email or None)
    # Where a person's alerts go is recorded (never the address itself): a redirected alert
    # is a question an inquiry may ask.
    record(
        Action.UPDATE,
        Subject("alert_preferences", user.id),
        actor=None,
        changed_fields=("email",),
        via="cli",
        emailed=bool(email),
    )
    db.session.commit()
    click.echo(f"{username}: alerts {'to ' + email if email else 'in the service only'}")
