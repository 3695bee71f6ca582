"""``flask visits verify-record``: prove what is derived from visits equals the versions;
``flask visits recompute-derived``: recompute it all (after the TIMESCALES configuration changes).
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from service.cases.models import Child
from service.extensions import db
from service.visits.derived import refresh_children
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


@visits.command("recompute-derived")
@click.option("--batch", default=2000, show_default=True, help="Children per transaction.")
@with_appcontext
def recompute_derived(batch: int) -> None:
    """Recompute every child's derived fields (last seen, next due, the views streak) and the
    in-time flag of each of their visits, with the rules configured now: run it after changing
    TIMESCALES or LOCAL_TIMEZONE. Commits a batch of children at a time; safe to rerun.
    """
    after = None
    done = 0
    while True:
        query = select(Child.id).order_by(Child.id).limit(batch)
        if after is not None:
            query = query.where(Child.id > after)
        ids = list(db.session.scalars(query))
        if not ids:
            break
        refresh_children(ids)
        db.session.commit()
        done += len(ids)
        after = ids[-1]
    click.echo(f"Recomputed {done} children.")
