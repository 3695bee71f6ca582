"""``flask cases import FILE``: load the local case registry."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from service.cases.importer import ImportFailed, apply_rows, read_rows, validate_rows
from service.extensions import db


@click.group()
def cases() -> None:
    """The local case registry (the embedded stand-in for the core case system)."""


@cases.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_cases(path: Path) -> None:
    """Import cases, children and allocations from a CSV or JSON file.

    Columns (CSV header or JSON keys): case_ref, case_status, team, allocated_worker, opened_on,
    closed_on, person_ref, child_name, date_of_birth, plan_type, plan_start_date; one row per
    child on a case. Every row is checked first, dates included (no birth in the future, no case
    closed before it opened, no plan starting before the child was born); any bad row stops the
    import with nothing written.
    """
    try:
        rows = validate_rows(read_rows(path))
    except ImportFailed as failed:
        for where, message in failed.problems:
            click.echo(f"{path.name}: {where}: {message}", err=True)
        raise click.ClickException(f"nothing imported: {len(failed.problems)} problem(s)") from None
    with click.progressbar(rows, label="Importing", show_pos=True) as bar:
        result = apply_rows(rows, progress=lambda items: bar)
    db.session.commit()
    click.echo(
        f"imported {result.rows} rows: cases {result.cases_created} new, "
        f"{result.cases_updated} updated; children {result.children_created} new, "
        f"{result.children_updated} updated"
    )
