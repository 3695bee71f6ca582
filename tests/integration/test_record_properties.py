"""The record always equals a full recomputation from the submitted versions (issue #9).

A hypothesis state machine lives random visit lives through the API: create, edit, submit,
return, approve, escalate, amend, take a child off, add, delete, withdraw and erase evidence,
delete a draft, change a child's plan. Visits start at random times, so a later submission is
often an earlier visit (as a tablet syncing late makes it), which changes whether the visits
after it were in time. Most steps are valid; a few are not on purpose (a stale ETag, the wrong status,
the wrong reviewer) and must be refused with a 4xx and change nothing. After every step the
derived values (the in-time flags too) are checked against ``check_record()`` and against the machine's own model,
which it keeps from the latest version of each visit as ``GET /visits/{id}/versions/{n}``
returns it: the children's last seen dates, their chronologies and the review queue's flags.

``RECORD_EXAMPLES`` and ``RECORD_STEPS`` run it longer (say 500 and 40) when hunting.
"""

from __future__ import annotations

import io
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from PIL import Image

from service.cases.models import Child
from service.extensions import db
from service.visits.models import NOT_SEEN_ALONE_REASONS, NOT_SEEN_REASONS, VISIT_TYPES
from service.visits.verify import check_record
from tests.conftest import empty_database
from tests.evidence_files import PDF
from tests.factories import make_case, make_child, make_team, make_user, new_id

SETTINGS = settings(
    max_examples=int(os.environ.get("RECORD_EXAMPLES", "30")),
    stateful_step_count=int(os.environ.get("RECORD_STEPS", "20")),
    deadline=None,
    # One failure shrunk well rather than several shrunk partly: shrinking replays every step.
    report_multiple_bugs=False,
    # No explain phase: it re-runs the failing example under a tracer, slowly, to say little.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EDITABLE = ("draft", "returned")
# Visits made in one example (deleted ones too): steps go into their lives, not into new ones.
MOST_VISITS = 4
VIEW_TEXTS = ("own_words", "wishes_and_feelings", "good_things", "worries", "dreams")
FLAGS = ("not_seen", "not_seen_alone", "no_views", "escalated")
PLAN_TYPES = ("child_protection", "child_in_need", "looked_after", "private_fostering")
OUTCOMES = ("seen_alone", "seen_not_alone", "not_seen")
VOICES = ("words", "not_gathered", "wishes", "houses", "scale", "words", "not_gathered")
# What can leave a draft short of the submission rules (on its first child, or its end time).
# No voice, or blank words, can be made good by a drawing of the child's.
FLAWS = ("no_views", "blank_words", "undecided", "no_reason", "no_end")


def _drawing() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (90, 40, 160)).save(out, "PNG")
    return out.getvalue()


DRAWING = _drawing()


@dataclass(frozen=True)
class ChildPlan:
    """What happened for one child: ``slot`` picks the child of the case."""

    slot: int
    outcome: str
    reason: str
    voice: str


@dataclass(frozen=True)
class VisitPlan:
    """A whole visit body in outline; the machine writes it out with fresh words."""

    children: tuple[ChildPlan, ...]
    visit_type: str
    hours_ago: int
    flaw: str | None
    drawings: tuple[int, ...]  # uploaded with the visit: the slots of children on it


@st.composite
def child_plans(draw: Any) -> ChildPlan:
    outcome = draw(st.sampled_from(OUTCOMES))
    reasons = {"not_seen": NOT_SEEN_REASONS, "seen_not_alone": NOT_SEEN_ALONE_REASONS}
    reason = draw(st.sampled_from(reasons.get(outcome, ("",))))
    return ChildPlan(draw(st.integers(0, 2)), outcome, reason, draw(st.sampled_from(VOICES)))


visit_plans = st.builds(
    VisitPlan,
    children=st.lists(child_plans(), min_size=1, max_size=3).map(tuple),
    visit_type=st.sampled_from(VISIT_TYPES),
    hours_ago=st.integers(0, 1000),
    flaw=st.sampled_from((None,) * 15 + FLAWS),
    drawings=st.lists(st.integers(0, 2), max_size=1).map(tuple),
)
picks = st.integers(0, 20)
# Mostly valid steps: a stray one picks any visit (deleted, wrong status); a stale one sends
# the ETag before the current one.
strays = st.sampled_from((False,) * 5 + (True,))


@dataclass
class Evidence:
    id: str
    label: str
    visit: VisitModel
    kind: str
    child_id: str | None
    in_record: bool = False
    withdrawn: bool = False
    erased: bool = False
    deleted: bool = False

    @property
    def held(self) -> bool:
        return not (self.withdrawn or self.erased or self.deleted)


@dataclass
class VisitModel:
    id: str
    label: str
    body: dict[str, Any]
    status: str = "draft"
    version: int = 1
    deleted: bool = False
    escalated: bool = False
    submissions: int = 0
    submitted_as: int = 0  # the visit version the latest submission made
    snapshot: dict[str, Any] | None = None  # the latest submitted version's
    evidence: list[Evidence] = field(default_factory=list)

    def held(self) -> list[Evidence]:
        return [item for item in self.evidence if item.held]


def read(session: Any, path: str) -> Any:
    response = session.get(path)
    assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
    return response.get_json()


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def shows_views(entry: dict[str, Any], evidence: list[dict[str, Any]]) -> bool:
    """The child's views, worked out here: words, Three Houses, a scale, or their drawing
    held by the same version.
    """
    voice = entry.get("voice") or {}
    if any((voice.get(name) or "").strip() for name in VIEW_TEXTS):
        return True
    if (voice.get("scale") or {}).get("score") is not None:
        return True
    child_id = entry["child_id"]
    return any(item["kind"] == "drawing" and item["child_id"] == child_id for item in evidence)


def complete(visit: VisitModel) -> bool:
    """Whether the draft as the model holds it would pass the submission rules."""
    body = visit.body
    if body["ended_at"] is None:
        return False
    evidence = [{"kind": item.kind, "child_id": item.child_id} for item in visit.held()]
    for entry in body["children"]:
        if entry["seen"] is None:
            return False
        if not entry["seen"]:
            if not entry["not_seen_reason"] or entry.get("seen_alone"):
                return False
            continue
        if entry.get("not_seen_reason") or (entry.get("not_seen_detail") or "").strip():
            return False  # contradicts "seen"
        if not entry["seen_alone"] and not entry["not_seen_alone_reason"]:
            return False
        if entry["seen_alone"] and entry.get("not_seen_alone_reason"):
            return False  # contradicts "seen alone"
        gathered = ((entry["voice"] or {}).get("not_gathered_reason") or "").strip()
        # Views, or why they could not be gathered: one or the other, never both (a drawing
        # kept on the visit counts as views).
        if shows_views(entry, evidence) == bool(gathered):
            return False
    return True


def flags(visit: VisitModel) -> set[str]:
    """The queue flags the latest version implies."""
    assert visit.snapshot is not None
    entries, evidence = visit.snapshot["children"], visit.snapshot["evidence"]
    found = set()
    if any(not entry["seen"] for entry in entries):
        found.add("not_seen")
    if any(entry["seen"] and not entry["seen_alone"] for entry in entries):
        found.add("not_seen_alone")
    if any(entry["seen"] and not shows_views(entry, evidence) for entry in entries):
        found.add("no_views")
    if visit.escalated:
        found.add("escalated")
    return found


def voice_body(kind: str, words: str) -> dict[str, Any] | None:
    if kind == "none":
        return None
    if kind == "not_gathered":
        return {"not_gathered_reason": "Asleep when we called."}
    voice: dict[str, Any] = {"method": "talking", "consent_to_share": True}
    if kind == "words":
        voice["own_words"] = words
    elif kind == "blank_words":
        voice["own_words"] = "   "
    elif kind == "wishes":
        voice["wishes_and_feelings"] = "Wants to stay at Nan's."
    elif kind == "houses":
        voice.update(good_things="My dog", worries="Shouting", dreams="Be a vet")
    else:
        voice["scale"] = {"score": 6, "question": "How safe do you feel?", "scored_by": "child"}
    return voice


class RecordMachine(RuleBasedStateMachine):
    """One worker, their supervisor and a manager, one case of two or three children."""

    def __init__(self, app: Any, sign_in: Any) -> None:
        super().__init__()
        self.app, self.sign_in = app, sign_in
        empty_database(app)
        self.now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.visits: list[VisitModel] = []
        self.evidence: list[Evidence] = []
        self.child_ids: list[str] = []
        self.words = 0

    @initialize(
        children=st.lists(
            st.tuples(st.sampled_from(PLAN_TYPES), st.integers(0, 500)), min_size=2, max_size=3
        )
    )
    def make_world(self, children: list[tuple[str, int]]) -> None:
        with self.app.app_context():
            team = make_team()
            users = [make_user(role, [team]) for role in ("social_worker", "supervisor", "manager")]
            kids = [
                make_child(plan, plan_start_date=date.today() - timedelta(days=days))
                for plan, days in children
            ]
            case = make_case(team, users[0], kids)
            self.case_id = str(case.id)
            self.child_ids = [str(child.id) for child in kids]
            names = [user.username for user in users]
            db.session.commit()
        self.worker, self.supervisor, self.manager = (self.sign_in(name) for name in names)

    # --- helpers -------------------------------------------------------------------------

    def body(self, plan: VisitPlan, label: str) -> dict[str, Any]:
        started = self.now - timedelta(hours=2 + plan.hours_ago)
        children, taken = [], set()
        for child in plan.children:
            child_id = self.child_ids[child.slot % len(self.child_ids)]
            if child_id in taken:
                continue
            taken.add(child_id)
            self.words += 1
            seen = child.outcome != "not_seen"
            children.append(
                {
                    "child_id": child_id,
                    "seen": seen,
                    "seen_alone": seen and child.outcome == "seen_alone",
                    "not_seen_reason": None if seen else child.reason,
                    "not_seen_detail": None if seen else "Nobody came to the door.",
                    "not_seen_alone_reason": (
                        child.reason if child.outcome == "seen_not_alone" else None
                    ),
                    "bedroom_seen": seen,
                    "voice": voice_body(child.voice, f"{label} words {self.words}"),
                }
            )
        first = children[0]
        if plan.flaw in ("no_views", "blank_words"):
            first["voice"] = voice_body("none" if plan.flaw == "no_views" else plan.flaw, "")
        elif plan.flaw == "undecided":
            first.update(seen=None, seen_alone=None, not_seen_reason=None)
        elif plan.flaw == "no_reason":
            first.update(not_seen_reason=None, not_seen_alone_reason=None)
        return {
            "case_id": self.case_id,
            "visit_type": plan.visit_type,
            "announced": False,
            "started_at": started.isoformat(),
            "ended_at": None
            if plan.flaw == "no_end"
            else (started + timedelta(minutes=50)).isoformat(),
            "location": "family_home",
            "people_present": ["Mother"],
            "children": children,
            "observations": f"Observed on {label}.",
            "analysis": None,
            "next_actions": None,
        }

    @staticmethod
    def if_match(visit: VisitModel, stale: bool) -> dict[str, str]:
        return {"If-Match": f'"{visit.version - 1 if stale else visit.version}"'}

    def answered(self, response: Any, accepted: bool, what: str) -> bool:
        """Assert the answer is a success when the model expects one, otherwise a 4xx."""
        code = response.status_code
        note(f"{what} -> {code}")
        assert code < 500, (what, code, response.get_data(as_text=True)[:300])
        if accepted:
            assert 200 <= code < 300, (what, code, response.get_json())
        else:
            assert 400 <= code < 500, (what, code, response.get_json())
        return accepted

    def read_latest_version(self, visit: VisitModel) -> None:
        """Keep the latest version as the API returns it; it must hold what was submitted."""
        numbers = [v["number"] for v in read(self.worker, f"/visits/{visit.id}/versions")]
        assert numbers == list(range(1, visit.submissions + 1))
        version = read(self.worker, f"/visits/{visit.id}/versions/{visit.submissions}")
        assert version["visit_version"] == visit.version
        snapshot = version["snapshot"]

        def outline(entry: dict[str, Any]) -> tuple[Any, ...]:
            words = (entry["voice"] or {}).get("own_words")
            return entry["child_id"], entry["seen"], entry["seen_alone"], words

        assert [outline(e) for e in snapshot["children"]] == [
            outline(e) for e in visit.body["children"]
        ]
        assert _at(snapshot["started_at"]) == _at(visit.body["started_at"])
        assert {item["id"] for item in snapshot["evidence"]} == {e.id for e in visit.held()}
        visit.snapshot = snapshot

    # --- the choices a valid step has (named functions: preconditions run at every step) ---

    def live(self, *statuses: str) -> list[VisitModel]:
        return [v for v in self.visits if not v.deleted and (not statuses or v.status in statuses)]

    def time_for_another(self) -> bool:
        """A worker writes one visit at a time: the next, once nothing is left to edit."""
        return len(self.visits) < MOST_VISITS and not self.editable()

    def editable(self) -> list[VisitModel]:
        return self.live(*EDITABLE)

    def submitted(self) -> list[VisitModel]:
        return self.live("submitted")

    def approved(self) -> list[VisitModel]:
        return self.live("approved")

    def reopened(self) -> list[VisitModel]:
        """Returned or amended visits with a child to spare."""
        return [v for v in self.editable() if v.submissions and len(v.body["children"]) > 1]

    def never_submitted(self) -> list[VisitModel]:
        """Drafts that may be deleted (while another visit may still be made)."""
        if len(self.visits) >= MOST_VISITS:
            return []
        return [v for v in self.live("draft") if not v.submissions]

    def present(self) -> list[Evidence]:
        return [e for e in self.evidence if not e.deleted]

    def removable(self) -> list[Evidence]:
        """Evidence its author can take out: withdraw if in the record, delete if not."""
        return [e for e in self.evidence if e.held and e.visit.status in EDITABLE]

    @staticmethod
    def choose(pool: list[Any], anything: list[Any], pick: int, stray: bool) -> Any:
        """One of ``pool`` (the valid choices), or under ``stray`` one of ``anything``."""
        pool = anything if stray else pool
        return pool[pick % len(pool)]

    # --- visits --------------------------------------------------------------------------

    @precondition(time_for_another)
    @rule(plan=visit_plans)
    def create(self, plan: VisitPlan) -> None:
        label = f"v{len(self.visits) + 1}"
        visit = VisitModel(new_id(), label, self.body(plan, label))
        response = self.worker.put(f"/visits/{visit.id}", json=visit.body)
        self.answered(response, True, f"create {label}")
        assert response.status_code == 201
        self.visits.append(visit)
        self.add_drawings(visit, plan)

    def add_drawings(self, visit: VisitModel, plan: VisitPlan) -> None:
        """Upload the plan's drawings, as the tablet does once the visit is saved."""
        on_visit = [entry["child_id"] for entry in visit.body["children"]]
        for slot in plan.drawings:
            self.upload(visit, True, on_visit[slot % len(on_visit)])

    @precondition(editable)
    @rule(
        plan=visit_plans,
        again=strays,
        then_submit=st.booleans(),
        pick=picks,
        stray=strays,
        stale=strays,
    )
    def edit(
        self, plan: VisitPlan, again: bool, then_submit: bool, pick: int, stray: bool, stale: bool
    ) -> None:
        """Write the draft anew, or ``again`` send the body it holds (a replay: always 200)."""
        visit = self.choose(self.editable(), self.visits, pick, stray)
        body = visit.body if again else self.body(plan, visit.label)
        if self.put(visit, body, stale, "same body again" if again else "edit"):
            self.add_drawings(visit, plan)
        if then_submit:
            self.submit_visit(visit, False)

    @precondition(reopened)
    @rule(pick=picks, slot=st.integers(0, 2), then_submit=st.booleans())
    def take_a_child_off(self, pick: int, slot: int, then_submit: bool) -> None:
        visit = self.choose(self.reopened(), [], pick, False)
        children = visit.body["children"]
        gone = slot % len(children)
        body = {**visit.body, "children": [c for i, c in enumerate(children) if i != gone]}
        self.put(visit, body, False, f"take child {self.slot_of(children[gone]['child_id'])} off")
        if then_submit:
            self.submit_visit(visit, False)

    def put(self, visit: VisitModel, body: dict[str, Any], stale: bool, what: str) -> bool:
        """Send ``body`` to the visit; whether it was taken as a new version."""
        response = self.worker.put(
            f"/visits/{visit.id}", json=body, headers=self.if_match(visit, stale)
        )
        replay = body == visit.body and not visit.deleted
        accepted = replay or (not visit.deleted and not stale and visit.status in EDITABLE)
        if self.answered(response, accepted, f"{what} {visit.label}") and not replay:
            visit.body = body
            visit.version += 1
            return True
        return False

    @precondition(editable)
    @rule(pick=picks, stray=strays, stale=strays)
    def submit(self, pick: int, stray: bool, stale: bool) -> None:
        editable = self.editable()
        ready = [visit for visit in editable if complete(visit)] or editable
        self.submit_visit(self.choose(ready, self.visits, pick, stray), stale)

    def submit_visit(self, visit: VisitModel, stale: bool) -> None:
        response = self.worker.post(
            f"/visits/{visit.id}/submit", headers=self.if_match(visit, stale)
        )
        named = visit.version - 1 if stale else visit.version
        replay = visit.status == "submitted" and named >= visit.submitted_as - 1
        accepted = not visit.deleted and (
            replay or (not stale and visit.status in EDITABLE and complete(visit))
        )
        if self.answered(response, accepted, f"submit {visit.label}") and not replay:
            visit.status, visit.escalated = "submitted", False
            visit.version += 1
            visit.submitted_as = visit.version
            visit.submissions += 1
            for item in visit.held():
                item.in_record = True
            self.read_latest_version(visit)

    @precondition(submitted)
    @rule(
        decision=st.sampled_from(("return", "approve", "escalate")),
        pick=picks,
        stray=strays,
        stale=strays,
    )
    def review(self, decision: str, pick: int, stray: bool, stale: bool) -> None:
        """A supervisor decides; once escalated, a manager (the supervisor is refused)."""
        visit = self.choose(self.submitted(), self.visits, pick, stray)
        by_manager = visit.escalated and not stray and decision != "escalate"
        reviewer = self.manager if by_manager else self.supervisor
        body = {
            "decision": decision,
            "comment": "Please say more about the bedroom.",
            "management_decision": {
                "action": "Visit again this week.",
                "due_by": (date.today() + timedelta(days=7)).isoformat(),
            },
        }
        response = reviewer.post(
            f"/visits/{visit.id}/review", json=body, headers=self.if_match(visit, stale)
        )
        accepted = (
            not visit.deleted
            and not stale
            and visit.status == "submitted"
            and (by_manager or not visit.escalated)
        )
        what = f"{decision} {visit.label} by {'manager' if by_manager else 'supervisor'}"
        if self.answered(response, accepted, what):
            visit.version += 1
            if decision == "escalate":
                visit.escalated = True
            else:
                visit.status = {"approve": "approved", "return": "returned"}[decision]

    @precondition(approved)
    @rule(pick=picks, stray=strays, stale=strays)
    def amend(self, pick: int, stray: bool, stale: bool) -> None:
        visit = self.choose(self.approved(), self.visits, pick, stray)
        response = self.worker.post(
            f"/visits/{visit.id}/amend",
            json={"reason": "The wrong school was named."},
            headers=self.if_match(visit, stale),
        )
        accepted = not visit.deleted and not stale and visit.status == "approved"
        if self.answered(response, accepted, f"amend {visit.label}"):
            visit.status, visit.escalated = "draft", False
            visit.version += 1

    @precondition(never_submitted)
    @rule(pick=picks, stray=strays, stale=strays)
    def delete(self, pick: int, stray: bool, stale: bool) -> None:
        visit = self.choose(self.never_submitted(), self.visits, pick, stray)
        response = self.worker.delete(f"/visits/{visit.id}", headers=self.if_match(visit, stale))
        accepted = not visit.deleted and not stale and not visit.submissions
        if self.answered(response, accepted, f"delete {visit.label}"):
            visit.deleted = True
            for item in visit.evidence:
                item.deleted = True

    # --- evidence ------------------------------------------------------------------------

    @precondition(editable)
    @rule(pick=picks, stray=strays, drawing=st.sampled_from((True, True, False)), slot=picks)
    def add_evidence(self, pick: int, stray: bool, drawing: bool, slot: int) -> None:
        """A drawing for a child on the visit (any child of the case, if stray), or a letter."""
        visit = self.choose(self.editable(), self.visits, pick, stray)
        on_visit = [entry["child_id"] for entry in visit.body["children"]]
        self.upload(visit, drawing, self.choose(on_visit, self.child_ids, slot, stray))

    def upload(self, visit: VisitModel, drawing: bool, child_id: str) -> None:
        """A PNG drawing of the child, or a PDF letter (of nobody in particular)."""
        kind, owner = ("drawing", child_id) if drawing else ("document", None)
        item = Evidence(new_id(), f"e{len(self.evidence) + 1}", visit, kind, owner)
        headers = {"X-Attachment-Id": item.id, "X-Attachment-Kind": kind}
        if owner:
            headers["X-Child-Id"] = owner
        response = self.worker.post(
            f"/visits/{visit.id}/attachments",
            data=DRAWING if drawing else PDF,
            content_type="image/png" if drawing else "application/pdf",
            headers={**headers, "X-Filename": "houses.png" if drawing else "letter.pdf"},
        )
        on_visit = [entry["child_id"] for entry in visit.body["children"]]
        accepted = not visit.deleted and visit.status in EDITABLE and owner in (None, *on_visit)
        what = f"add {kind} {item.label} of child {self.slot_of(owner)} to {visit.label}"
        if self.answered(response, accepted, what):
            visit.evidence.append(item)
            self.evidence.append(item)

    def slot_of(self, child_id: str | None) -> int | None:
        return self.child_ids.index(child_id) if child_id else None

    @precondition(removable)
    @rule(pick=picks, stray=strays, erase=strays, then_submit=st.booleans())
    def remove_evidence(self, pick: int, stray: bool, erase: bool, then_submit: bool) -> None:
        """Withdraw evidence in the record, delete evidence that is not (the wrong one of the
        two, if stray), or as a manager erase any evidence.
        """
        if erase:
            self.erase(self.choose(self.present(), [], pick, False))
            return
        item = self.choose(self.removable(), self.evidence, pick, stray)
        if item.in_record != stray:
            self.withdraw(item)
        else:
            self.delete_evidence(item)
        if then_submit:
            self.submit_visit(item.visit, False)

    def withdraw(self, item: Evidence) -> None:
        response = self.worker.post(
            f"/attachments/{item.id}/withdraw", json={"reason": "A photo of another family."}
        )
        again = item.withdrawn and not item.deleted
        accepted = again or (not item.deleted and item.in_record and item.visit.status in EDITABLE)
        if self.answered(response, accepted, f"withdraw {item.label} of {item.visit.label}"):
            item.withdrawn = True

    def delete_evidence(self, item: Evidence) -> None:
        response = self.worker.delete(f"/attachments/{item.id}")
        accepted = not item.deleted and not item.in_record and item.visit.status in EDITABLE
        if self.answered(response, accepted, f"delete {item.label} of {item.visit.label}"):
            item.deleted = True

    def erase(self, item: Evidence) -> None:
        """A manager erases evidence, at any status; the next version no longer holds it."""
        response = self.manager.post(
            f"/attachments/{item.id}/erase", json={"reason": "Wrong family."}
        )
        if self.answered(response, True, f"erase {item.label} of {item.visit.label}"):
            item.erased = True

    @rule(slot=st.integers(0, 2), plan=st.sampled_from(PLAN_TYPES), days=st.integers(0, 60))
    def change_plan(self, slot: int, plan: str, days: int) -> None:
        """The core system moves a child onto another plan, or corrects its start date: every
        in-time flag of theirs is worked out again (checked by the invariants).
        """
        child_id = self.child_ids[slot % len(self.child_ids)]
        with self.app.app_context():
            child = db.session.get(Child, uuid.UUID(child_id))
            child.plan_type, child.plan_start_date = plan, date.today() - timedelta(days=days)
            db.session.commit()
            db.session.remove()

    # --- what must always hold -----------------------------------------------------------

    @invariant()
    def visits_are_where_the_model_has_them(self) -> None:
        """Every status and version as the model has them: a refused step changed nothing."""
        visits = read(self.worker, "/visits?page_size=200")
        shown = {visit["id"]: (visit["status"], visit["version"]) for visit in visits}
        assert shown == {v.id: (v.status, v.version) for v in self.live()}

    @invariant()
    def record_equals_a_full_recomputation(self) -> None:
        with self.app.app_context():
            try:
                problems = check_record()
            finally:
                db.session.remove()
        assert problems == []

    def recorded(self, child_id: str) -> dict[str, tuple[VisitModel, dict[str, Any], Any]]:
        """Each submitted visit whose latest version records the child: the visit, the
        child's entry and when the visit started.
        """
        found = {}
        for visit in self.visits:
            snapshot = visit.snapshot or {"children": []}
            for entry in snapshot["children"]:
                if entry["child_id"] == child_id:
                    found[visit.id] = (visit, entry, _at(snapshot["started_at"]))
        return found

    @invariant()
    def last_seen_dates_follow_the_latest_versions(self) -> None:
        cases = read(self.worker, "/cases?page_size=200")
        shown = {child["id"]: child for case in cases for child in case["children"]}
        for child_id in self.child_ids:
            recorded = self.recorded(child_id).values()
            seen = [at for _, entry, at in recorded if entry["seen"]]
            alone = [at for _, entry, at in recorded if entry["seen"] and entry["seen_alone"]]
            child = shown[child_id]
            assert _at(child["last_seen_at"]) == max(seen, default=None), child_id
            assert _at(child["last_seen_alone_at"]) == max(alone, default=None), child_id

    @invariant()
    def chronology_shows_each_latest_version_once(self) -> None:
        for child_id in self.child_ids:
            entries = read(self.worker, f"/children/{child_id}/chronology")
            shown = [entry for entry in entries if entry["kind"] == "visit"]
            recorded = self.recorded(child_id)
            assert Counter(e["visit_id"] for e in shown) == Counter(list(recorded)), child_id
            for entry in shown:
                visit, recorded_entry, _ = recorded[entry["visit_id"]]
                details = entry["details"]
                words = (recorded_entry["voice"] or {}).get("own_words")
                assert (details["voice"] or {}).get("own_words") == words, visit.label
                assert details["version_number"] == visit.submissions, visit.label
                assert details["seen"] == recorded_entry["seen"], visit.label

    @invariant()
    def review_queue_holds_the_submitted_visits_with_their_flags(self) -> None:
        queue = read(self.supervisor, "/reviews/queue?page_size=200")
        shown = {item["id"]: set(item["flags"]) & set(FLAGS) for item in queue}
        assert len(shown) == len(queue)
        assert shown == {v.id: flags(v) for v in self.submitted()}


def test_every_derived_value_equals_a_recomputation_from_the_versions(app, sign_in):
    run_state_machine_as_test(lambda: RecordMachine(app, sign_in), settings=SETTINGS)
