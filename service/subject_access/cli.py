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
from service.auth.operations import find_active_user
from service.cases.models import Child
from service.errors import Forbidden, NotFound
from service.extensions import db
from service.subject_access import archive, operations

children = AppGroup("children", help="Children's records: subject access export.")


def _writable_target(ctx: click.Context, param: click.Parameter, path: Path) -> Path:
    """FILE's folder must exist and be writable: checked before anything is read or audited."""
    folder = path.parent
    if not folder.exists():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist.", ctx, param)
    if not folder.is_dir():
        raise click.BadParameter(f"{str(folder)!r} is not a folder.", ctx, param)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(f"folder {str(folder)!r} is not writable.", ctx, param)
    return path


def _one_line(error: BaseException) -> str:
    """An error as one short line for the terminal: its type and message, never a traceback."""
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return " ".join(f"{type(error).__name__}: {detail}".split()) if detail else type(error).__name__


@children.command("export")
@click.argument("child_id", metavar="ID", type=click.UUID)
@click.argument(
    "path",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_writable_target,
)
@click.option(
    "--as", "actor", required=True, metavar="MANAGER", help="The manager exporting: username or id."
)
def export_command(child_id: uuid.UUID, path: Path, actor: str) -> None:
    """Write the child's subject access export (a zip) to FILE, with a progress bar.

    The same zip, scope rules and audit as ``GET /api/v1/children/{id}/export``, with MANAGER as
    the one who exported it. Written to a temporary file beside FILE and renamed into place only
    when complete: on any error FILE is left as it was (or absent), never half-written, and the
    error is one line (the log has the details under the request id it gives).
    """
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    try:
        export, written = _export(child_id, path, actor, request_id)
    except click.ClickException:
        raise
    except Exception as error:
        db.session.rollback()
        raise click.ClickException(
            f"the export failed ({_one_line(error)}; request {request_id}); {path} was not written"
        ) from None
    click.echo(f"wrote {path}: {len(export.members) + 1} files, {written} bytes (manifest last)")
    if export.missing:
        click.echo(
            f"warning: {len(export.missing)} evidence file(s) missing from the store, listed as "
            "missing in evidence.json, README.txt and record.html, with no file in the zip: "
            + ", ".join(str(attachment_id) for attachment_id in export.missing),
            err=True,
        )


def _export(
    child_id: uuid.UUID, path: Path, actor: str, request_id: str
) -> tuple[archive.Export, int]:
    """Check, audit and write the export; the refusals are ``ClickException``s."""
    try:
        user = find_active_user(actor)
    except NotFound:
        raise click.ClickException(f"no active user {actor!r}") from None
    try:
        export = operations.prepare_export(user, child_id, request_id)
    except Forbidden:
        known = db.session.get(Child, child_id) is not None
        record(  # as the API records a role refusal: in the child's access log
            Action.DENIED,
            Subject("child", child_id, child_id if known else None),
            actor=user,
            operation="export_child",
            wanted="read",
            refused_for="role",
            via="cli",
        )
        db.session.commit()
        raise click.ClickException("only a manager can export a child's record") from None
    except NotFound:
        db.session.commit()  # the refusal the policy layer recorded, if the child exists
        raise click.ClickException("no such child, or not in your scope") from None
    record(Action.EXPORT, operations.export_subjects(child_id), actor=user, via="cli")
    db.session.commit()
    return export, _write_atomically(export, path, request_id)


def _write_atomically(export: archive.Export, path: Path, request_id: str) -> int:
    """Stream the zip into a temporary file beside ``path``, then rename it into place."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with (
            partial.open("xb") as out,
            click.progressbar(length=export.total_bytes, label="Exporting", file=sys.stderr) as bar,
        ):
            for chunk in archive.stream(export, progress=bar.update, request_id=request_id):
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
