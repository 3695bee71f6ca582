"""Verifying the trail: walk every chain, re-hash every event, and check the chains against
the signed anchors.

Reports, per chain, the first problem: an event whose content no longer matches its hash
(changed), one whose ``prev_hash`` is not its predecessor's hash (a broken link: reordered or
deleted events), a gap in ``seq`` (deleted events), two events with one ``seq`` (a fork), an
anchor the chain no longer matches (a re-hashed rewrite), an anchor beyond the chain's end (a
truncated tail), and chains without any anchor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, text

from service.audit import anchors as anchoring
from service.audit.chain import GENESIS, HASHED, event_hash
from service.audit.models import AuditEvent, legacy_audit_events
from service.extensions import db

BATCH = 20_000
SQLITE_TRIGGERS = (
    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
)


@dataclass
class Finding:
    """One problem found: which chain, at which event, what."""

    chain: int
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        """One line for a person."""
        where = f"chain {self.chain}"
        if self.chain < 0:  # about the trail as a whole
            where = "anchor store" if self.kind == "bad anchor" else "database"
        where += f", event {self.seq}" if self.seq is not None else ""
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class Report:
    """What a verification found."""

    events: int = 0
    chains: int = 0
    anchors: int = 0
    legacy_events: int = 0
    findings: list[Finding] = field(default_factory=list)
    # Chains begun since the last anchoring: not yet anchored, which is not a problem.
    unanchored: list[int] = field(default_factory=list)
    # Chains some anchoring run found with events (each anchor lists its run's chains).
    covered: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True if nothing was found wrong."""
        return not self.findings


def _columns() -> list[object]:
    return [getattr(AuditEvent, name) for name in (*HASHED, "prev_hash", "hash")]


def _latest_per_chain(names: list[str]) -> list[str]:
    """The newest anchor of each chain: names sort by chain folder, then sequence, then time."""
    latest: dict[str, str] = {}
    for name in names:
        folder = name.rsplit("/", 1)[0]
        if name > latest.get(folder, ""):
            latest[folder] = name
    return sorted(latest.values())


def _load_anchors(report: Report, every: bool) -> dict[int, dict[int, anchoring.Anchor]]:
    """The anchors to check: each chain's newest (its hash covers every event before it, so it
    vouches for the whole chain up to there), or ``every`` anchor.
    """
    store = anchoring.anchor_store()
    public_key = anchoring.signing_key().public_key()
    by_chain: dict[int, dict[int, anchoring.Anchor]] = defaultdict(dict)
    names = list(anchoring.stored_anchor_names(store))
    for name in names if every else _latest_per_chain(names):
        try:
            anchor = anchoring.read_anchor(store, name, public_key)
        except anchoring.BadAnchor as error:
            report.findings.append(Finding(-1, None, "bad anchor", str(error)))
            continue
        by_chain[anchor.chain][anchor.seq] = anchor
        report.anchors += 1
        report.covered.update(anchor.run_chains)
    return by_chain


def _append_only_guards_missing() -> str | None:
    """Why the database would let someone update or delete events, or None if it would not."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        enabled = connection.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
                "AND tgname = 'audit_events_append_only' AND tgenabled <> 'D'"
            )
        ).scalar()
        return None if enabled else "the trigger audit_events_append_only is missing or disabled"
    names = set(connection.execute(text(SQLITE_TRIGGERS)).scalars())
    missing = {"audit_events_no_update", "audit_events_no_delete"} - names
    return f"missing trigger(s): {', '.join(sorted(missing))}" if missing else None


def _legacy_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(legacy_audit_events)) or 0)


class _ChainWalk:
    """The state of one chain's walk."""

    def __init__(self, chain: int, anchors: dict[int, anchoring.Anchor]) -> None:
        self.chain = chain
        self.anchors = anchors
        self.seq = 0
        self.hash = GENESIS
        self.broken = False

    def step(self, row: dict[str, object], report: Report) -> None:
        if self.broken:
            return
        seq = int(row["seq"])  # type: ignore[call-overload]
        problem = None
        if seq == self.seq:
            problem = ("fork", "two events with the same sequence number")
        elif seq != self.seq + 1:
            problem = ("gap", f"events {self.seq + 1} to {seq - 1} are missing")
        elif row["prev_hash"] != self.hash:
            problem = ("broken link", "does not follow the event before it (reordered or removed)")
        elif event_hash(self.hash, row) != row["hash"]:
            problem = ("changed", "its content no longer matches its hash")
        else:
            anchor = self.anchors.get(seq)
            if anchor is not None and anchor.hash != row["hash"]:
                problem = ("anchor mismatch", f"the chain was rewritten ({anchor.key})")
        if problem:
            report.findings.append(Finding(self.chain, seq, *problem))
            self.broken = True
            return
        self.seq, self.hash = seq, str(row["hash"])

    def finish(self, report: Report) -> None:
        if self.broken:
            return
        if not self.anchors:
            # Every anchoring signs every chain with events and lists them in each anchor, so
            # a chain with none of its own is innocent only if no anchoring ever saw it (it
            # began since the last one). With no anchors at all, nothing vouches for anything.
            if report.anchors and self.chain not in report.covered:
                report.unanchored.append(self.chain)
                return
            report.findings.append(
                Finding(self.chain, None, "missing anchor", "no signed anchor covers this chain")
            )
            return
        beyond = [seq for seq in self.anchors if seq > self.seq]
        if beyond:
            report.findings.append(
                Finding(
                    self.chain,
                    self.seq,
                    "truncated",
                    f"an anchor names event {max(beyond)} but the chain ends at {self.seq}",
                )
            )


def verify(progress: Callable[[int], None] | None = None, *, every_anchor: bool = False) -> Report:
    """Walk every chain in the database against the stored anchors (each chain's newest, or
    ``every_anchor``: a store holds one per chain per anchoring, hundreds of thousands a year).
    """
    report = Report()
    anchors = _load_anchors(report, every_anchor)
    report.legacy_events = _legacy_count()
    unguarded = _append_only_guards_missing()
    if unguarded:
        report.findings.append(Finding(-1, None, "not append-only", unguarded))
    query = (
        select(*_columns())  # type: ignore[call-overload]
        .order_by(AuditEvent.chain, AuditEvent.seq)
        .execution_options(yield_per=BATCH)
    )
    walk: _ChainWalk | None = None
    seen_chains: set[int] = set()
    for partition in db.session.execute(query).mappings().partitions(BATCH):
        for row in partition:
            chain = int(row["chain"])
            if walk is None or walk.chain != chain:
                if walk is not None:
                    walk.finish(report)
                walk = _ChainWalk(chain, anchors.get(chain, {}))
                seen_chains.add(chain)
            walk.step(row, report)  # type: ignore[arg-type]
        report.events += len(partition)
        if progress:
            progress(len(partition))
    if walk is not None:
        walk.finish(report)
    for chain in sorted(set(anchors) - seen_chains):
        top = max(anchors[chain])
        report.findings.append(
            Finding(chain, None, "truncated", f"an anchor names event {top}; the chain is gone")
        )
    report.chains = len(seen_chains)
    return report


def count_events() -> int:
    """How many chained events there are (for a progress bar)."""
    return int(db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
