"""The readable diff between two submitted versions of a visit, from real snapshots."""

import uuid
from datetime import UTC, datetime

from service.visits.diff import Words, compare, consecutive, marked_words
from service.visits.models import Visit, VisitChild
from service.visits.record import evidence_entry, snapshot

SAM, ALEX = uuid.uuid4(), uuid.uuid4()
NAMES = {str(SAM): "Sam Smith", str(ALEX): "Alex Smith"}


def visit(**fields):
    """A visit as the record format would snapshot it (transient models, no database)."""
    children = fields.pop("children", None) or [child(SAM)]
    values = {
        "id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "worker_id": uuid.uuid4(),
        "visit_type": "statutory",
        "announced": False,
        "started_at": datetime(2026, 11, 20, 10, 5, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 20, 11, 0, tzinfo=UTC),
        "location": "family_home",
        "people_present": ["Mother"],
        "observations": "The home was warm and tidy.",
        "analysis": None,
        "next_actions": None,
        "amendment_reason": None,
    }
    values.update(fields)
    made = Visit(**values)
    made.children = children
    return made


def child(child_id, **fields):
    values = {
        "child_id": child_id,
        "seen": True,
        "seen_alone": False,
        "not_seen_alone_reason": "child_refused",
        "bedroom_seen": True,
        "own_words": "I like it when Nan picks me up.",
        "voice_method": "talking",
    }
    values.update(fields)
    return VisitChild(**values)


def test_nothing_changed_is_nothing():
    assert compare(snapshot(visit(), []), snapshot(visit(), []), NAMES) == []


def test_a_child_seen_alone_reads_as_plain_english():
    before = snapshot(visit(), [])
    after = snapshot(visit(children=[child(SAM, seen_alone=True, not_seen_alone_reason=None)]), [])
    [section] = compare(before, after, NAMES)
    assert section.heading == "Sam Smith"
    assert [change.sentence for change in section.changes] == [
        "Seen alone: No → Yes",
        "Why not seen alone: The child refused → Not recorded",
    ]


def test_not_seen_reasons_and_the_scale_use_the_labels():
    before = snapshot(visit(), [])
    after = snapshot(
        visit(
            children=[
                child(
                    SAM,
                    seen=False,
                    seen_alone=None,
                    not_seen_alone_reason=None,
                    not_seen_reason="no_access",
                    scale_score=7,
                    scale_question="How safe do you feel at home?",
                    scale_scored_by="child",
                )
            ]
        ),
        [],
    )
    sentences = [change.sentence for change in compare(before, after, NAMES)[0].changes]
    assert "Seen: Yes → No" in sentences
    assert "Why not seen: Not recorded → No access to the home" in sentences
    assert "Scale score (0 to 10): Not recorded → 7" in sentences
    assert "Scale scored by: Not recorded → The child" in sentences


def test_changed_words_are_marked_and_the_rest_kept_exactly():
    before = snapshot(visit(), [])
    after = snapshot(visit(children=[child(SAM, own_words="I like it when  Mum picks me up.")]), [])
    [change] = compare(before, after, NAMES)[0].changes
    assert change.label == "In their own words"
    assert change.words == (
        Words("I like it when", "same"),
        Words(" Nan", "removed"),
        Words("  Mum", "added"),
        Words(" picks me up.", "same"),
    )
    assert "".join(w.text for w in change.words if w.change != "removed") == (
        "I like it when  Mum picks me up."
    )


def test_a_long_text_is_compared_line_by_line():
    before = "\n".join(f"line {n} " + "word " * 10 for n in range(400))
    after = before.replace("line 7 ", "line seven ")
    marked = marked_words(before, after)
    removed = [w.text for w in marked if w.change == "removed"]
    assert len(removed) == 1 and removed[0].startswith("line 7 ")


def test_visit_fields_times_and_people():
    before = snapshot(visit(), [])
    after = snapshot(
        visit(
            announced=True,
            started_at=datetime(2026, 11, 20, 10, 35, tzinfo=UTC),
            people_present=["Mother", "Maternal grandmother"],
            analysis="Nan is a protective factor.",
        ),
        [],
    )
    [section] = compare(before, after, NAMES)
    assert section.heading == "The visit"
    assert [change.sentence for change in section.changes] == [
        "Announced: No → Yes",
        "Started: 20 November 2026, 10:05 → 20 November 2026, 10:35",
        "People present: Mother → Mother, Maternal grandmother",
        "Analysis: Not recorded → Nan is a protective factor.",
    ]
    assert section.changes[-1].words == ()  # nothing before: shown whole, not marked


def test_children_added_and_taken_off_and_evidence_withdrawn():
    photo = evidence_entry(uuid.uuid4(), "photo", SAM, "image/jpeg", 100, "ab" * 32)
    drawing = evidence_entry(uuid.uuid4(), "drawing", ALEX, "image/png", 100, "cd" * 32)
    before = snapshot(visit(), [photo])
    after = snapshot(visit(children=[child(ALEX)]), [drawing])
    sections = compare(before, after, NAMES)
    assert [(s.heading, s.note) for s in sections[:2]] == [
        ("Alex Smith", "Added to the visit in this version."),
        ("Sam Smith", "Taken off the visit in this version."),
    ]
    assert [c.sentence for c in sections[2].changes] == [
        "Drawing of Alex Smith: Not in this visit → Added",
        "Photo of Sam Smith: Held → Withdrawn",
    ]


def test_consecutive_versions():
    first = snapshot(visit(), [])
    second = snapshot(visit(next_actions="Revisit in 10 days"), [])
    third = snapshot(visit(next_actions="Revisit in 5 days"), [])
    diffs = consecutive([(3, third), (1, first), (2, second)], NAMES)
    assert list(diffs) == [2, 3]
    assert diffs[2][0].changes[0].sentence == "Next actions: Not recorded → Revisit in 10 days"
    assert [w.text for w in diffs[3][0].changes[0].words if w.change != "same"] == ["10", "5"]
