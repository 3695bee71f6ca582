"""``flask users create``: add a local account."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from service.auth.models import ROLES, Team, User
from service.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, password_problems
from service.extensions import db


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
    if db.session.scalar(select(User).where(User.username == username)):
        raise click.ClickException(f"user {username!r} already exists")
    found = list(db.session.scalars(select(Team).where(Team.name.in_(teams))))
    missing = set(teams) - {team.name for team in found}
    if missing:
        raise click.ClickException(f"no such team: {', '.join(sorted(missing))}")
    problems = password_problems(username, password)
    if problems:
        raise click.ClickException(f"password not accepted: {'; '.join(problems)}")
    db.session.add(
        User(
            username=username,
            display_name=display_name or username,
            role=role,
            password_hash=hash_password(password),
            teams=found,
        )
    )
    db.session.commit()
    click.echo(f"created {role} {username}")
