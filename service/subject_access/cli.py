"""``flask children export ID FILE --as MANAGER``: a subject access export written to a file."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import click
from flask.cli import AppGroup

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.errors import Forbidden, NotFound
from service.extensions import db
from service.subject_access import archive, operations

children = AppGroup("children", help="Children's records: subject access export.")


@children.command("export")
@click.argument("child_id", metavar="ID", type=click.UUID)
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as", "actor", required=True, metavar="MANAGER", help="The manager exporting: username or id."
)
def export_command(child_id: uuid.UUID, path: Path, actor: str) -> None:
    """Write the child's subject access export (a zip) to FILE, with a progress bar.

    The same zip, scope rules and audit as ``GET /api/v1/children/{id}/export``, with MANAGER as
    the one who exported it. Written to a temporary file beside FILE and renamed into place only
    when complete: on any error FILE is left as it was (or absent), never half-written.
    """
    try:
        user = operations.find_user(actor)
    except NotFound:
        raise click.ClickException(f"no active user {actor!r}") from None
    try:
        export = operations.prepare_export(user, child_id)
    except Forbidden:
        record(Action.DENIED, Subject("operation", "children export"), actor=user)
        db.session.commit()
        raise click.ClickException("only a manager can export a child's record") from None
    except NotFound:
        db.session.commit()  # the refusal the policy layer recorded, if the child exists
        raise click.ClickException("no such child, or not in your scope") from None
    record(Action.EXPORT, operations.export_subjects(child_id), actor=user, via="cli")
    db.session.commit()
    written = _write_atomically(export, path)
    click.echo(f"wrote {path}: {len(export.members) + 1} files, {written} bytes (manifest last)")


def _write_atomically(export: archive.Export, path: Path) -> int:
    """Stream the zip into a temporary file beside ``path``, then rename it into place."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with (
            partial.open("xb") as out,
            click.progressbar(length=export.total_bytes, label="Exporting", file=sys.stderr) as bar,
        ):
            for chunk in archive.stream(export, progress=bar.update):
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
