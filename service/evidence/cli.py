"""``flask evidence reconcile``: make the store and the records agree."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from service.columns import utcnow
from service.evidence.models import PICTURE_KINDS, Attachment, thumbnail_key
from service.evidence.operations import evidence_store
from service.extensions import db
from storage import EvidenceStore


@click.group()
def evidence() -> None:
    """Evidence store maintenance."""


@evidence.command("reconcile")
@click.option("--grace-minutes", default=60, show_default=True, help="Leave younger orphans alone.")
@click.option("--dry-run", is_flag=True, help="Report only; delete nothing.")
@with_appcontext
def reconcile(grace_minutes: int, dry_run: bool) -> None:
    """Delete stored objects no record points at, abort uploads never finished, and report
    records whose object is missing.

    Objects and uploads younger than the grace period are left alone: they may still be
    committing.
    Thumbnails are removed, whatever their age, once their attachment is gone or erased (one
    could have been cached while an erasure was committing).
    Exits with status 1 when a record's object is missing, so a scheduler notices.
    """
    store = evidence_store()
    known = set(db.session.scalars(select(Attachment.store_key)))
    cutoff = utcnow() - timedelta(minutes=grace_minutes)
    stored: set[str] = set()
    removed = 0
    for item in store.list("visits/"):
        stored.add(item.key)
        if item.key not in known and item.last_modified < cutoff:
            click.echo(
                f"orphan object {item.key} ({item.size} bytes){' (dry run)' if dry_run else ''}"
            )
            if not dry_run:
                store.delete(item.key)
                removed += 1
    removed += _remove_stray_thumbnails(store, dry_run)
    removed += _abort_incomplete_uploads(store, cutoff, dry_run)
    missing = sorted(known - stored)
    for key in missing:
        click.echo(f"MISSING object for record: {key}", err=True)
    click.echo(
        f"{len(stored)} objects, {len(known)} records, "
        f"{removed} orphans removed, {len(missing)} missing"
    )
    if missing:
        raise SystemExit(1)


def _remove_stray_thumbnails(store: EvidenceStore, dry_run: bool) -> int:
    """Delete cached thumbnails whose attachment is gone or erased; return how many."""
    wanted = {
        thumbnail_key(attachment_id, kind, content_type)
        for attachment_id, kind, content_type in db.session.execute(
            select(Attachment.id, Attachment.kind, Attachment.content_type).where(
                Attachment.erased_at.is_(None), Attachment.kind.in_(PICTURE_KINDS)
            )
        )
    }
    removed = 0
    for item in store.list("thumbnails/"):
        if item.key in wanted:
            continue
        click.echo(f"stray thumbnail {item.key}{' (dry run)' if dry_run else ''}")
        if not dry_run:
            store.delete(item.key)
            removed += 1
    return removed


def _abort_incomplete_uploads(store: EvidenceStore, cutoff: datetime, dry_run: bool) -> int:
    """Abort multipart uploads begun before ``cutoff`` and never finished (a worker killed
    mid-upload, or an abort that a hung store never answered); return how many.
    """
    aborted = 0
    for upload in store.incomplete_uploads("visits/"):
        if upload.initiated >= cutoff:
            continue
        click.echo(f"incomplete upload {upload.key}{' (dry run)' if dry_run else ''}")
        if not dry_run:
            store.abort_upload(upload)
            aborted += 1
    return aborted
