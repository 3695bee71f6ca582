"""A shared visit with two children, taken through its whole life, for the export tests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

from service.cases.models import Case
from service.extensions import db
from tests.evidence_files import PDF
from tests.factories import new_id, visit_body

# The child's words, with what HTML and JSON must escape and what UTF-8 must carry.
CHILD_WORDS = 'Nan\'s house is "the best" <3 & I feel safe \u2014 caf\u00e9 \u2713\n  (two spaces)'
SIBLING_WORDS = "Sibling-only words that must stay out of the export"
FORMULA_PERSON = '=HYPERLINK("http://example.invalid","click")'


@dataclass
class Shared:
    """What the scenario made: ids, and the bytes each file was uploaded with."""

    visit_id: str
    other_visit_id: str
    child_id: str
    sibling_id: str
    child_file: str
    sibling_file: str
    visit_file: str
    uploads: dict[str, bytes]


def _upload(session: Any, visit_id: str, data: bytes, child_id: str | None) -> str:
    attachment_id = new_id()
    headers = {
        "X-Attachment-Id": attachment_id,
        "X-Attachment-Kind": "document",
        "X-Filename": "=notes of the visit.pdf",
    }
    if child_id:
        headers["X-Child-Id"] = child_id
    response = session.post(
        f"/visits/{visit_id}/attachments",
        data=data,
        content_type="application/pdf",
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return attachment_id


def _decide(manager: Any, visit_id: str, etag: str, decision: str, **body: Any) -> None:
    response = manager.post(
        f"/visits/{visit_id}/review",
        json={"decision": decision, **body},
        headers={"If-Match": etag},
    )
    assert response.status_code == 201, response.get_json()


def shared_visit(app: Any, world: Any, worker: Any, manager: Any) -> Shared:
    """Visit on case a1 (two children): v1 returned, v2 approved, evidence for each child and
    the whole visit (then erased), and an amendment left as a draft. Plus a visit on case a2
    that does not include the child.
    """
    child_id, sibling_id = world.child_ids["a1"]
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
        other = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a2"])))
    body["people_present"] = ["Mother", FORMULA_PERSON]
    for entry in body["children"]:
        words = CHILD_WORDS if entry["child_id"] == child_id else SIBLING_WORDS
        entry["voice"]["own_words"] = words
    visit_id, other_visit_id = new_id(), new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert worker.put(f"/visits/{other_visit_id}", json=other).status_code == 201
    uploads = {
        "child": PDF + b"% the child's own document\n",
        "sibling": PDF + b"% the sibling's document\n",
        "visit": PDF + b"% a document of the whole visit\n",
    }
    child_file = _upload(worker, visit_id, uploads["child"], child_id)
    sibling_file = _upload(worker, visit_id, uploads["sibling"], sibling_id)
    visit_file = _upload(worker, visit_id, uploads["visit"], None)
    submitted = worker.post(f"/visits/{visit_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    _decide(manager, visit_id, submitted.headers["ETag"], "return", comment="Add school's view.")
    etag = worker.get(f"/visits/{visit_id}").headers["ETag"]
    body["analysis"] = "School say attendance is good."
    assert (
        worker.put(f"/visits/{visit_id}", json=body, headers={"If-Match": etag}).status_code == 200
    )
    submitted = worker.post(f"/visits/{visit_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    _decide(manager, visit_id, submitted.headers["ETag"], "approve")
    erased = manager.post(f"/attachments/{visit_file}/erase", json={"reason": "Wrong family."})
    assert erased.status_code == 200, erased.get_json()
    amended = worker.post(f"/visits/{visit_id}/amend", json={"reason": "Wrong location"})
    assert amended.status_code == 200, amended.get_json()
    body["location"] = "school"
    changed = worker.put(
        f"/visits/{visit_id}", json=body, headers={"If-Match": amended.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.get_json()
    return Shared(
        visit_id,
        other_visit_id,
        child_id,
        sibling_id,
        child_file,
        sibling_file,
        visit_file,
        uploads,
    )


def unpack(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    """The zip's member names in order, and each member's bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        return names, {name: archive.read(name) for name in names}


def check_manifest(names: list[str], files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest is the last member and matches every other member exactly."""
    assert names[-1] == "manifest.json"
    manifest = json.loads(files["manifest.json"])
    listed = {item["name"]: item for item in manifest["files"]}
    assert sorted(listed) == sorted(name for name in names if name != "manifest.json")
    for name, item in listed.items():
        assert item["size"] == len(files[name]), name
        assert item["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
    return manifest  # type: ignore[no-any-return]


def sheet_rows(files: dict[str, bytes]) -> list[dict[str, str]]:
    """The redaction sheet's rows."""
    text = files["redaction-sheet.csv"].decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))
