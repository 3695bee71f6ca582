"""``flask audit``: anchor the chains, verify them, report unusual access, show the public key."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
from flask.cli import AppGroup

from service.audit import anchors, unusual, verify
from service.columns import utcnow
from service.extensions import db
from storage import StorageError

audit = AppGroup("audit", help="The audit trail: anchor, verify, unusual access.")


def _store_problem(error: StorageError) -> str:
    return (
        f"the anchor store cannot be read or written ({type(error).__name__}): check "
        "EVIDENCE_STORE or AUDIT_ANCHOR_STORE and the S3_* settings, as the server has them"
    )


@audit.command("anchor")
def anchor() -> None:
    """Sign every chain's head and write it to the anchor store."""
    try:
        written = anchors.write_anchors()
    except StorageError as error:
        raise click.ClickException(_store_problem(error)) from None
    finally:
        db.session.rollback()
    for item in written:
        click.echo(f"chain {item.chain}: event {item.seq} anchored ({item.key})")
    click.echo(f"{len(written)} anchors written")


@audit.command("public-key")
def public_key() -> None:
    """Print the anchors' public key (base64), to verify them elsewhere."""
    click.echo(anchors.public_key_text(anchors.signing_key().public_key()))


@audit.command("verify")
@click.option(
    "--all-anchors",
    is_flag=True,
    help="Check every stored anchor, not only each chain's newest (slower on a large store).",
)
def verify_command(all_anchors: bool) -> None:
    """Walk every chain against the anchors; exit 1 on the first problem of any chain."""
    total = verify.count_events()
    try:
        with click.progressbar(
            length=total, label="Verifying audit events", file=sys.stderr
        ) as bar:
            report = verify.verify(progress=bar.update, every_anchor=all_anchors)
    except StorageError as error:
        db.session.rollback()
        raise click.ClickException(_store_problem(error)) from None
    db.session.rollback()
    click.echo(
        f"{report.events} events in {report.chains} chains, {report.anchors} anchors checked"
    )
    if report.legacy_events:
        click.echo(f"{report.legacy_events} events from before the chain (kept, not verifiable)")
    if report.unanchored:
        chains = ", ".join(str(chain) for chain in report.unanchored)
        click.echo(
            f"not anchored yet (begun since the last anchoring): chain {chains}; "
            "they are anchored at the next `audit anchor` or by the outbox worker"
        )
    for finding in report.findings:
        click.echo(f"PROBLEM {finding}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("OK: every chain verifies")


@audit.command("unusual")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
def unusual_command(days: int, as_json: bool) -> None:
    """Report unusual access in the last DAYS days, each hit explained."""
    since = utcnow() - timedelta(days=days)
    hits = unusual.report(since)
    db.session.rollback()
    for hit in hits:
        click.echo(json.dumps(hit.as_dict(), default=str) if as_json else str(hit))
    if not as_json:
        click.echo(f"{len(hits)} unusual accesses since {since:%Y-%m-%d %H:%M} UTC")
