"""What changed between two submitted versions of a visit, in words a supervisor reads.

Compares two snapshots (``service.visits.record``, format 1) field by field: the visit, then
each child (matched by id, in the later version's order), then the evidence. A changed value
reads ``Seen alone: No → Yes``, with the labels of ``service.visits.labels``; a changed text
(observations, the child's own words) is shown whole, with the words removed and added marked,
so nothing is paraphrased.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from service.visits.labels import VALUES, field_label, value_label

VISIT_FIELDS = (
    "visit_type",
    "announced",
    "started_at",
    "ended_at",
    "location",
    "people_present",
    "observations",
    "analysis",
    "next_actions",
    "amendment_reason",
)
CHILD_FIELDS = (
    "seen",
    "not_seen_reason",
    "not_seen_detail",
    "seen_alone",
    "not_seen_alone_reason",
    "not_seen_alone_detail",
    "bedroom_seen",
    "voice.own_words",
    "voice.wishes_and_feelings",
    "voice.good_things",
    "voice.worries",
    "voice.dreams",
    "voice.scale.question",
    "voice.scale.score",
    "voice.scale.scored_by",
    "voice.method",
    "voice.consent_to_share",
    "voice.not_gathered_reason",
)
# Written in sentences: shown as text with the changed words marked, not as "before → after".
TEXT_FIELDS = frozenset(
    {
        "observations",
        "analysis",
        "next_actions",
        "amendment_reason",
        "not_seen_detail",
        "not_seen_alone_detail",
        "voice.own_words",
        "voice.wishes_and_feelings",
        "voice.good_things",
        "voice.worries",
        "voice.dreams",
        "voice.scale.question",
        "voice.not_gathered_reason",
    }
)
# Beyond this many words a side, texts are compared line by line (difflib is quadratic).
WORD_DIFF_LIMIT = 3000
TOKENS = re.compile(r"\s+|\S+")


@dataclass(frozen=True)
class Words:
    """A stretch of a text: kept as it was, added, or removed. Whitespace is kept exactly."""

    text: str
    change: Literal["same", "added", "removed"]


@dataclass(frozen=True)
class Change:
    """One field that changed: its label, the value before and after, and for a text, the
    text with its changes marked.
    """

    path: str
    label: str
    before: str
    after: str
    words: tuple[Words, ...] = ()

    @property
    def sentence(self) -> str:
        """``Seen alone: No → Yes``."""
        return f"{self.label}: {self.before} → {self.after}"


@dataclass(frozen=True)
class Section:
    """The changes to one part of the visit: the visit itself, one child, or the evidence."""

    heading: str
    changes: tuple[Change, ...] = ()
    note: str | None = None


def value_at(entry: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path (``voice.scale.score``); None where any step is missing."""
    value: Any = entry
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def marked_words(before: str, after: str) -> tuple[Words, ...]:
    """``after`` as a sequence of kept and added stretches, with what was removed in between.

    Word by word (whitespace kept as it was); line by line for very long texts.
    """
    old, new = _tokens(before), _tokens(after)
    if max(len(old), len(new)) > WORD_DIFF_LIMIT:
        old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    marked: list[Words] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for operation, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if operation == "equal":
            _append(marked, "".join(new[new_start:new_end]), "same")
            continue
        _append(marked, "".join(old[old_start:old_end]), "removed")
        _append(marked, "".join(new[new_start:new_end]), "added")
    return tuple(marked)


def _tokens(text: str) -> list[str]:
    return TOKENS.findall(text)


def _append(marked: list[Words], text: str, change: Literal["same", "added", "removed"]) -> None:
    if not text:
        return
    if marked and marked[-1].change == change:
        marked[-1] = Words(marked[-1].text + text, change)
    else:
        marked.append(Words(text, change))


def _change(path: str, before: Any, after: Any) -> Change | None:
    if _normal(before) == _normal(after):
        return None
    words: tuple[Words, ...] = ()
    if path in TEXT_FIELDS and before and after:
        words = marked_words(str(before), str(after))
    return Change(
        path, field_label(path), value_label(path, before), value_label(path, after), words
    )


def _normal(value: Any) -> Any:
    """Nothing recorded is nothing, however it was sent (None, "", [])."""
    return None if value in (None, "", []) else value


def _changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], paths: Iterable[str]
) -> tuple[Change, ...]:
    found = (_change(path, value_at(before, path), value_at(after, path)) for path in paths)
    return tuple(change for change in found if change is not None)


def compare(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    child_names: Mapping[str, str] | None = None,
) -> list[Section]:
    """The sections that changed from snapshot ``before`` to snapshot ``after``, in reading
    order; empty when nothing did. ``child_names`` maps child ids to names for the headings.
    """
    names = child_names or {}
    sections: list[Section] = []
    visit_changes = _changes(before, after, VISIT_FIELDS)
    if visit_changes:
        sections.append(Section("The visit", visit_changes))
    earlier = {entry["child_id"]: entry for entry in before.get("children", [])}
    later_ids = set()
    for entry in after.get("children", []):
        child_id = entry["child_id"]
        later_ids.add(child_id)
        heading = names.get(child_id, "A child")
        if child_id not in earlier:
            sections.append(Section(heading, note="Added to the visit in this version."))
            continue
        changes = _changes(earlier[child_id], entry, CHILD_FIELDS)
        if changes:
            sections.append(Section(heading, changes))
    for child_id in earlier:
        if child_id not in later_ids:
            sections.append(
                Section(names.get(child_id, "A child"), note="Taken off the visit in this version.")
            )
    evidence = _evidence_changes(before, after, names)
    if evidence:
        sections.append(Section("Evidence", evidence))
    return sections


def _evidence_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], names: Mapping[str, str]
) -> tuple[Change, ...]:
    held_before = {item["id"]: item for item in before.get("evidence", [])}
    held_after = {item["id"]: item for item in after.get("evidence", [])}
    changes = [
        _evidence_change(item, names, "Not in this visit", "Added")
        for item_id, item in held_after.items()
        if item_id not in held_before
    ]
    changes += [
        _evidence_change(item, names, "Held", "Withdrawn")
        for item_id, item in held_before.items()
        if item_id not in held_after
    ]
    return tuple(changes)


def _evidence_change(
    item: Mapping[str, Any], names: Mapping[str, str], before: str, after: str
) -> Change:
    kind = VALUES["kind"].get(item.get("kind", ""), "Evidence")
    child = names.get(item.get("child_id") or "")
    label = f"{kind} of {child}" if child else kind
    return Change("evidence", label, before, after)


def consecutive(
    snapshots: Iterable[tuple[int, Mapping[str, Any]]], child_names: Mapping[str, str] | None = None
) -> dict[int, list[Section]]:
    """For each version after the first, what changed since the one before it, by number.

    ``snapshots`` are ``(number, snapshot)`` pairs in any order.
    """
    ordered = sorted(snapshots, key=lambda pair: pair[0])
    return {
        number: compare(previous, snapshot, child_names)
        for (_, previous), (number, snapshot) in pairwise(ordered)
    }
