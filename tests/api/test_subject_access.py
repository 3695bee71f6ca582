"""Subject access export: every part of the zip, third parties, scope, audit and streaming."""

import hashlib
import html
import json
import logging
import re
import uuid

import pytest
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.cases.models import Case, Child
from service.evidence.models import Attachment
from service.extensions import db
from service.subject_access.documents import WITHHELD_CHILD
from storage import StorageError, StorageUnavailable
from tests.factories import OWN_WORDS, new_id, visit_body
from tests.subject_access_support import (
    CHILD_WORDS,
    FORMULA_PERSON,
    SIBLING_WORDS,
    check_manifest,
    shared_visit,
    sheet_rows,
    unpack,
)


@pytest.fixture
def manager(world, sign_in):
    return sign_in(world.usernames["manager"])


@pytest.fixture
def shared(app, world, worker, manager):
    return shared_visit(app, world, worker, manager)


def export(session, child_id):
    response = session.get(f"/children/{child_id}/export")
    assert response.status_code == 200, response.get_json()
    return response, unpack(response.get_data())


def test_the_zip_holds_every_version_decision_and_file_and_verifies_against_its_manifest(
    shared, manager
):
    response, (names, files) = export(manager, shared.child_id)
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    assert names[0] == "README.txt"
    check_manifest(names, files)
    visit = f"visits/{shared.visit_id}"
    assert {f"{visit}/v1.json", f"{visit}/v2.json", f"{visit}/draft.json"} <= set(names)
    assert not any(shared.other_visit_id in name for name in names)  # not the child's visit
    v1, v2 = (json.loads(files[f"{visit}/v{n}.json"]) for n in (1, 2))
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v2["record"]["analysis"] == "School say attendance is good."
    draft = json.loads(files[f"{visit}/draft.json"])
    assert draft["record"]["location"] == "school" and "not part of the record" in draft["kind"]
    reviews = json.loads(files["reviews.json"])["reviews"]
    assert [(r["decision"], r["version"]) for r in reviews] == [("return", 1), ("approve", 2)]
    assert reviews[0]["comment"] == "Add school's view." and reviews[0]["reviewer"]["name"]
    child = json.loads(files["child.json"])
    assert child["child"]["id"] == shared.child_id
    assert child["cases"][0]["allocated_worker"]["name"]
    readme = files["README.txt"].decode()
    assert "DRAFTS ARE INCLUDED" in readme and "manifest.json" in readme


def test_evidence_bytes_equal_the_upload_and_erased_evidence_is_a_tombstone(shared, manager):
    _, (names, files) = export(manager, shared.child_id)
    mine = [name for name in names if name.startswith(f"evidence/{shared.child_file}-")]
    assert len(mine) == 1
    uploaded = hashlib.sha256(shared.uploads["child"]).hexdigest()
    assert hashlib.sha256(files[mine[0]]).hexdigest() == uploaded
    assert not any(shared.visit_file in name for name in names)  # erased: no file
    assert not any(shared.sibling_file in name for name in names)  # another child's: withheld
    index = {item["id"]: item for item in json.loads(files["evidence.json"])["evidence"]}
    assert index[shared.child_file]["status"] == "exported"
    assert index[shared.child_file]["sha256"] == uploaded
    tombstone = index[shared.visit_file]
    assert tombstone["status"] == "erased" and tombstone["file"] is None
    assert tombstone["erased"]["reason"] == "Wrong family." and tombstone["erased"]["by"]["name"]
    assert index[shared.sibling_file] == {"id": shared.sibling_file, "status": "withheld"}


def test_the_childs_words_are_exact_in_every_version_and_quoted_in_the_html(shared, manager):
    _, (names, files) = export(manager, shared.child_id)
    for name in names:
        if name.startswith("visits/"):
            entries = json.loads(files[name])["record"]["children"]
            own = [entry for entry in entries if entry.get("child_id") == shared.child_id]
            assert own[0]["voice"]["own_words"] == CHILD_WORDS, name
    page = files["record.html"].decode()
    quoted = re.findall(r'<blockquote class="own-words">(.*?)</blockquote>', page, re.S)
    assert len(quoted) == 3  # v1, v2 and the draft
    assert all(html.unescape(text) == CHILD_WORDS for text in quoted)
    assert "<3 &" not in page  # escaped, not markup
    assert not re.search(r"(src|href)=", page)  # no external assets


def test_other_childrens_content_is_withheld_and_every_occurrence_is_listed(shared, manager):
    _, (_, files) = export(manager, shared.child_id)
    for name, body in files.items():
        assert SIBLING_WORDS.encode() not in body, name
    rows = sheet_rows(files)
    withheld = {(row["file"], row["field"]) for row in rows if row["action"] == "withheld"}
    visit = f"visits/{shared.visit_id}"
    for file in (f"{visit}/v1.json", f"{visit}/v2.json", f"{visit}/draft.json"):
        record = json.loads(files[file])["record"]
        position = next(
            index for index, entry in enumerate(record["children"]) if "withheld" in entry
        )
        assert (file, f"record.children[{position}]") in withheld
        assert any(f == file and field.startswith("record.evidence[") for f, field in withheld)
    assert any(row["file"] == "evidence.json" and row["action"] == "withheld" for row in rows)
    assert all(
        shared.sibling_id in row["detail"] for row in rows if row["category"] == "other_child"
    )
    present = [row for row in rows if row["category"] == "person_present"]
    assert {row["file"] for row in present} == {
        f"{visit}/v1.json",
        f"{visit}/v2.json",
        f"{visit}/draft.json",
    }
    assert {row["detail"] for row in present} == {"Mother", "'" + FORMULA_PERSON}
    assert all(row["also_in"] == "record.html" for row in present)
    categories = {row["category"] for row in rows}
    assert {"staff_name", "free_text", "other_child", "person_present"} <= categories
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())


def test_the_export_is_audited_naming_the_child_and_the_manager(app, world, shared, manager):
    with app.app_context():
        last = db.session.scalar(select(db.func.max(AuditEvent.id)))
    export(manager, shared.child_id)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
        assert [(e.action, str(e.child_id), str(e.actor_id)) for e in events] == [
            ("export", shared.child_id, world.user_ids["manager"])
        ]
        assert events[0].details == {"via": "api"}


@pytest.mark.parametrize("role", ["worker_a", "supervisor_a", "admin"])
def test_only_a_manager_may_export(world, sign_in, role):
    caller = sign_in(world.usernames[role])
    response = caller.get(f"/children/{world.child_ids['a1'][0]}/export")
    assert response.status_code == 403


def test_unknown_or_malformed_child_is_404(manager):
    assert manager.get(f"/children/{uuid.uuid4()}/export").status_code == 404
    assert manager.get("/children/not-a-uuid/export").status_code == 404


def test_a_child_out_of_scope_is_404_and_the_refusal_is_audited(app, world, manager, monkeypatch):
    from service.cases import operations

    monkeypatch.setattr(operations, "can_read_child", lambda user, child: False)
    child_id = world.child_ids["b1"][0]
    response = manager.get(f"/children/{child_id}/export")
    assert response.status_code == 404
    with app.app_context():
        denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).all()
        assert [str(event.child_id) for event in denied] == [child_id]


def test_a_child_with_no_visits_still_gets_a_complete_export(world, manager):
    _, (names, files) = export(manager, world.child_ids["b1"][0])
    check_manifest(names, files)
    assert json.loads(files["reviews.json"])["reviews"] == []
    assert "No visits recorded." in files["record.html"].decode()


def test_database_down_is_503(world, manager, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from service.subject_access import operations

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(operations, "gather", down)
    response = manager.get(f"/children/{world.child_ids['a1'][0]}/export")
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_zip_streams_chunk_by_chunk_and_reads_evidence_only_while_streaming(
    app, shared, manager, monkeypatch
):
    store = app.extensions["evidence_store"]
    opened = []
    real_open = store.open
    monkeypatch.setattr(store, "open", lambda key, *a: opened.append(key) or real_open(key, *a))
    response = manager.get(f"/children/{shared.child_id}/export")
    assert response.status_code == 200
    assert response.is_streamed  # no Content-Length: the body is a generator
    assert "Content-Length" not in response.headers
    assert opened == []  # nothing read from the store before the body is iterated
    chunks = list(response.response)
    assert len(opened) == 1 and len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= 65536  # stream-zip's chunk size
    check_manifest(*unpack(b"".join(chunks)))


def test_the_store_failing_mid_stream_stops_the_zip_without_a_manifest(
    app, shared, manager, monkeypatch, caplog
):
    store = app.extensions["evidence_store"]

    def failing(key, *args):
        yield b"%PDF-1.4\n"
        raise StorageUnavailable("connection reset")

    monkeypatch.setattr(store, "open", failing)
    response = manager.get(
        f"/children/{shared.child_id}/export", headers={"X-Request-Id": "req-export-1"}
    )
    assert response.status_code == 200  # already streaming when the store fails
    received = b""
    with caplog.at_level(logging.ERROR), pytest.raises(StorageUnavailable):
        for chunk in response.response:
            received += chunk
    assert b"manifest.json" not in received
    logged = [r.getMessage() for r in caplog.records if "subject access export" in r.getMessage()]
    assert len(logged) == 1
    assert "req-export-1" in logged[0] and f"evidence {shared.child_file}" in logged[0]
    assert CHILD_WORDS not in logged[0] and "notes" not in logged[0]


def remove_from_store(app, attachment_id):
    """Take an attachment's object out of the store (the local folder or the S3 bucket), as a
    file moved out of the folder or a lost key would be.
    """
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(attachment_id)).store_key
    store = app.extensions["evidence_store"]
    store.delete(key)
    with pytest.raises(FileNotFoundError):
        store.size(key)


def test_an_object_missing_from_the_store_is_listed_as_missing_and_the_zip_is_complete(
    app, shared, manager, caplog
):
    remove_from_store(app, shared.child_file)
    with caplog.at_level(logging.WARNING):
        response = manager.get(
            f"/children/{shared.child_id}/export", headers={"X-Request-Id": "req-missing-1"}
        )
        assert response.status_code == 200
        names, files = unpack(response.get_data())
    check_manifest(names, files)  # complete: every member is there and matches
    assert not any(name.startswith("evidence/") for name in names)  # no file for it
    index = {item["id"]: item for item in json.loads(files["evidence.json"])["evidence"]}
    entry = index[shared.child_file]
    assert entry["status"] == "missing" and entry["file"] is None
    assert "missing from the store" in entry["missing"]
    assert entry["sha256"] == hashlib.sha256(shared.uploads["child"]).hexdigest()
    assert entry["size"] == len(shared.uploads["child"])
    assert index[shared.visit_file]["missing"] is None  # erased, not missing
    readme = files["README.txt"].decode()
    assert "MISSING FROM THE STORE" in readme and shared.child_file in readme
    assert entry["sha256"] in readme
    page = files["record.html"].decode()
    row = page[page.index(f"<tr><td>{shared.child_file}</td>") :].split("</tr>")[0]
    assert "MISSING FROM THE STORE" in row and "<td>none</td>" in row
    logged = [r.getMessage() for r in caplog.records if "missing from the" in r.getMessage()]
    assert len(logged) == 1
    assert "req-missing-1" in logged[0] and shared.child_file in logged[0]
    assert shared.child_id in logged[0] and "notes" not in logged[0]  # ids, never a file name


def test_a_complete_export_lists_nothing_as_missing(shared, manager):
    _, (_, files) = export(manager, shared.child_id)
    assert "MISSING FROM THE STORE" not in files["README.txt"].decode()
    assert "MISSING FROM THE STORE" not in files["record.html"].decode()
    statuses = {item["status"] for item in json.loads(files["evidence.json"])["evidence"]}
    assert statuses == {"exported", "erased", "withheld"}


@pytest.mark.parametrize(
    "failure",
    [StorageUnavailable("connection refused"), StorageError("evidence store refused: 403")],
)
def test_the_store_failing_before_the_first_byte_is_503_and_nothing_is_exported(
    app, shared, manager, monkeypatch, failure
):
    store = app.extensions["evidence_store"]

    def failing(key):
        raise failure

    monkeypatch.setattr(store, "size", failing)
    with app.app_context():
        last = db.session.scalar(select(db.func.max(AuditEvent.id)))
    response = manager.get(f"/children/{shared.child_id}/export")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["code"] == "evidence.store_unavailable"
    with app.app_context():
        exported = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last, AuditEvent.action == "export")
        ).all()
        assert exported == []


def test_an_object_gone_after_the_check_still_stops_the_zip_without_a_manifest(
    app, shared, manager, monkeypatch
):
    store = app.extensions["evidence_store"]

    def gone(key, *args):
        raise FileNotFoundError(key)

    monkeypatch.setattr(store, "open", gone)  # present when checked, gone when read
    response = manager.get(f"/children/{shared.child_id}/export")
    assert response.status_code == 200
    received = b""
    with pytest.raises(FileNotFoundError):
        for chunk in response.response:
            received += chunk
    assert b"manifest.json" not in received


def _returned_visit(app, world, worker, manager):
    """A visit to both children of case a1, submitted once and returned."""
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    submitted = worker.post(f"/visits/{visit_id}/submit")
    decided = manager.post(
        f"/visits/{visit_id}/review",
        json={"decision": "return", "comment": "Redo."},
        headers={"If-Match": submitted.headers["ETag"]},
    )
    assert decided.status_code == 201, decided.get_json()
    return visit_id, body


def test_a_returned_visit_has_a_draft_only_once_it_is_changed(app, world, worker, manager):
    visit_id, body = _returned_visit(app, world, worker, manager)
    child_id = world.child_ids["a1"][0]
    _, (names, _) = export(manager, child_id)
    assert f"visits/{visit_id}/v1.json" in names
    assert f"visits/{visit_id}/draft.json" not in names  # returned, unchanged: v1 is all there is
    etag = worker.get(f"/visits/{visit_id}").headers["ETag"]
    changed = dict(body, analysis="Being rewritten.")
    assert (
        worker.put(f"/visits/{visit_id}", json=changed, headers={"If-Match": etag}).status_code
        == 200
    )
    _, (names, files) = export(manager, child_id)
    draft = json.loads(files[f"visits/{visit_id}/draft.json"])
    assert draft["record"]["analysis"] == "Being rewritten."


def test_a_child_taken_off_a_visit_keeps_the_versions_that_held_them(app, world, worker, manager):
    visit_id, body = _returned_visit(app, world, worker, manager)
    child_id, sibling_id = world.child_ids["a1"]
    etag = worker.get(f"/visits/{visit_id}").headers["ETag"]
    only_sibling = dict(body, children=[e for e in body["children"] if e["child_id"] == sibling_id])
    changed = worker.put(f"/visits/{visit_id}", json=only_sibling, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.get_json()
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    _, (names, files) = export(manager, child_id)
    v1 = json.loads(files[f"visits/{visit_id}/v1.json"])
    own = [e for e in v1["record"]["children"] if e.get("child_id") == child_id]
    assert own[0]["voice"]["own_words"] == OWN_WORDS
    v2 = json.loads(files[f"visits/{visit_id}/v2.json"])
    assert v2["record"]["children"] == [{"withheld": WITHHELD_CHILD}]
    check_manifest(names, files)


def test_a_visit_on_a_case_being_purged_is_not_exported(app, world, worker, manager):
    """A child on two cases, one of them marked for purging: that case's visits are absent,
    as they are everywhere else, though the child's other case is still held.
    """
    child_id = world.child_ids["a1"][0]
    with app.app_context():
        other = db.session.get(Case, uuid.UUID(world.case_ids["a3"]))
        other.children.append(db.session.get(Child, uuid.UUID(child_id)))
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
        db.session.commit()
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    _, (names, _) = export(manager, child_id)
    assert any(name.startswith(f"visits/{visit_id}/") for name in names)
    with app.app_context():
        db.session.get(Case, uuid.UUID(world.case_ids["a1"])).purging_since = db.func.now()
        db.session.commit()
    _, (names, files) = export(manager, child_id)
    assert not any(name.startswith(f"visits/{visit_id}/") for name in names)
    check_manifest(names, files)
