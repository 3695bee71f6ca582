"""``flask users create``: add a local account."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from service.auth import operations
from service.auth.models import ROLES
from service.auth.passwords import MIN_PASSWORD_LENGTH
from service.errors import ValidationFailed
from service.extensions import db

# How each field's problems begin on the command line.
FIELD_LABELS = {"password": "password not accepted"}


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("username")
@click.option("--display-name", help="Name shown on records (defaults to the username).")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--team", "teams", multiple=True, help="Team name; repeat for several.")
@click.password_option(
    help=f"At least {MIN_PASSWORD_LENGTH} characters, without the username, not a common one. "
    "Prompted for when not given."
)
@with_appcontext
def create_user(
    username: str, display_name: str | None, role: str, teams: tuple[str, ...], password: str
) -> None:
    """Create a local account with an argon2-hashed password that meets the password rule."""
    try:
        operations.create_user(
            None,
            username=username,
            display_name=display_name,
            role=role,
            team_names=teams,
            password=password,
        )
    except ValidationFailed as refused:
        db.session.rollback()
        problems = refused.errors or {}
        raise click.ClickException(
            "; ".join(
                f"{FIELD_LABELS.get(field, field)}: {'; '.join(messages)}"
                for field, messages in problems.items()
            )
        ) from None
    db.session.commit()
    click.echo(f"created {role} {username}")
