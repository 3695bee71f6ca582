"""``flask visits verify-record``: prove what is derived from visits equals the versions."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from service.extensions import db
from service.visits.verify import check_record


@click.group()
def visits() -> None:
    """Visits and their record."""


@visits.command("verify-record")
@click.option("--repair", is_flag=True, help="Rewrite whatever differs from the versions.")
@with_appcontext
def verify_record(repair: bool) -> None:
    """Recompute everything derived from the submitted versions and compare it with what is
    stored: the record copy, each child's last seen and next due dates, the summary counts.
    Exits 1 when something differs (after fixing it, with --repair).
    """
    problems = check_record(repair=repair)
    for problem in problems[:200]:
        click.echo(problem)
    if repair:
        db.session.commit()
    if problems:
        action = "repaired" if repair else "found"
        raise click.ClickException(f"{len(problems)} differences {action}.")
    click.echo("The record and everything derived from it agree.")
