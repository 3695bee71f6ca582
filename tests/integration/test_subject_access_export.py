"""Subject access export from the command line (atomic file, progress, audit, scope), and the
stream's memory with a large evidence file. Run on PostgreSQL and S3 in CI like the rest.
"""

import hashlib
import json
import os
import tracemalloc
import uuid

import pytest
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.cases.models import Case
from service.extensions import db
from storage import StorageError, StorageUnavailable
from tests.evidence_files import MP4
from tests.factories import new_id, visit_body
from tests.subject_access_support import CHILD_WORDS, check_manifest, shared_visit, unpack

MIB = 1024 * 1024
# The large evidence file of the memory test; set higher to measure (README: 40 and 400).
LARGE_MIB = int(os.environ.get("EXPORT_MEMORY_TEST_MIB", "40"))


@pytest.fixture
def manager(world, sign_in):
    return sign_in(world.usernames["manager"])


def run_export(app, child_id, path, actor):
    return app.test_cli_runner().invoke(
        args=["children", "export", str(child_id), str(path), "--as", actor]
    )


def events(app, action):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_cli_writes_the_same_zip_with_progress_and_audits_the_manager(
    app, world, worker, manager, tmp_path
):
    shared = shared_visit(app, world, worker, manager)
    target = tmp_path / "export.zip"
    result = run_export(app, shared.child_id, target, world.usernames["manager"])
    assert result.exit_code == 0, result.output
    assert "Exporting" in result.output  # the bar's label (a terminal also shows the bar)
    assert "manifest last" in result.output
    names, files = unpack(target.read_bytes())
    check_manifest(names, files)
    assert f"visits/{shared.visit_id}/v2.json" in names
    version = json.loads(files[f"visits/{shared.visit_id}/v1.json"])
    own = [e for e in version["record"]["children"] if e.get("child_id") == shared.child_id]
    assert own[0]["voice"]["own_words"] == CHILD_WORDS
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
    exported = events(app, "export")
    assert [(str(e.actor_id), str(e.child_id), e.details) for e in exported] == [
        (world.user_ids["manager"], shared.child_id, {"via": "cli"})
    ]
    # The manager may be named by id as well, or as sign-in finds them: trimmed, any capitals.
    again = run_export(app, shared.child_id, tmp_path / "again.zip", world.user_ids["manager"])
    assert again.exit_code == 0, again.output
    typed = f" {world.usernames['manager'].upper()} "
    third = run_export(app, shared.child_id, tmp_path / "third.zip", typed)
    assert third.exit_code == 0, third.output
    assert {str(e.actor_id) for e in events(app, "export")} == {world.user_ids["manager"]}


def test_progress_counts_every_byte_of_every_file(app, world, worker, manager):
    from service.auth.models import User
    from service.subject_access import archive, operations

    shared = shared_visit(app, world, worker, manager)
    with app.app_context():
        user = db.session.get(User, uuid.UUID(world.user_ids["manager"]))
        export = operations.prepare_export(user, uuid.UUID(shared.child_id))
        db.session.rollback()
    steps = []
    data = b"".join(archive.stream(export, progress=steps.append))
    names, files = unpack(data)
    assert (
        sum(steps)
        == export.total_bytes
        == sum(len(body) for name, body in files.items() if name != "manifest.json")
    )
    assert len(steps) == len(names) - 1  # one step per chunk read; small files are one chunk


@pytest.mark.parametrize("role", ["worker_a", "supervisor_a", "admin"])
def test_cli_refuses_anyone_but_a_manager_and_writes_nothing(app, world, tmp_path, role):
    target = tmp_path / "export.zip"
    result = run_export(app, world.child_ids["a1"][0], target, world.usernames[role])
    assert result.exit_code == 1 and "only a manager" in result.output
    assert list(tmp_path.iterdir()) == []
    denied = events(app, "denied")
    assert [str(e.actor_id) for e in denied] == [world.user_ids[role]]
    # In the child's access log, as the API's role refusal is.
    assert str(denied[0].child_id) == world.child_ids["a1"][0]
    assert denied[0].details["refused_for"] == "role" and denied[0].details["via"] == "cli"


def test_cli_child_out_of_scope_is_refused_and_the_refusal_audited(
    app, world, tmp_path, monkeypatch
):
    from service.cases import operations

    monkeypatch.setattr(operations, "can_read_child", lambda user, child: False)
    child_id = world.child_ids["b1"][0]
    result = run_export(app, child_id, tmp_path / "export.zip", world.usernames["manager"])
    assert result.exit_code == 1 and "no such child" in result.output
    assert list(tmp_path.iterdir()) == []
    denied = events(app, "denied")
    assert [(str(e.actor_id), str(e.child_id)) for e in denied] == [
        (world.user_ids["manager"], child_id)
    ]
    assert events(app, "export") == []


def test_cli_unknown_child_or_user_writes_nothing(app, world, tmp_path):
    target = tmp_path / "export.zip"
    missing = run_export(app, uuid.uuid4(), target, world.usernames["manager"])
    assert missing.exit_code == 1 and "no such child" in missing.output
    nobody = run_export(app, world.child_ids["a1"][0], target, "nobody")
    assert nobody.exit_code == 1 and "no active user" in nobody.output
    malformed = run_export(app, "not-a-uuid", target, world.usernames["manager"])
    assert malformed.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_cli_store_failing_mid_export_leaves_no_file(
    app, world, worker, manager, tmp_path, monkeypatch
):
    shared = shared_visit(app, world, worker, manager)
    store = app.extensions["evidence_store"]

    def failing(key, *args):
        yield b"%PDF-1.4\n"
        raise StorageUnavailable("connection reset")

    monkeypatch.setattr(store, "open", failing)
    target = tmp_path / "export.zip"
    target.write_bytes(b"an earlier export")
    result = run_export(app, shared.child_id, target, world.usernames["manager"])
    assert result.exit_code == 1
    assert_one_line_error(result, "connection reset")
    assert str(target) in result.output and "was not written" in result.output
    assert target.read_bytes() == b"an earlier export"  # untouched: replaced only when complete
    assert list(tmp_path.iterdir()) == [target]


def assert_one_line_error(result, *words):
    """A clean refusal: click's one ``Error:`` line, no traceback, no exception escaping."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], result.output


@pytest.mark.parametrize(
    "failure",
    [
        StorageUnavailable("evidence store unreachable: ConnectionError"),
        StorageError("evidence store refused: 403"),
        PermissionError(13, "Permission denied"),
    ],
)
def test_cli_store_failing_before_the_export_starts_is_one_line_and_writes_nothing(
    app, world, worker, manager, tmp_path, monkeypatch, failure
):
    shared = shared_visit(app, world, worker, manager)
    store = app.extensions["evidence_store"]

    def failing(key):
        raise failure

    monkeypatch.setattr(store, "size", failing)
    target = tmp_path / "export.zip"
    result = run_export(app, shared.child_id, target, world.usernames["manager"])
    assert result.exit_code == 1
    assert_one_line_error(result, "was not written")
    assert list(tmp_path.iterdir()) == []
    assert events(app, "export") == []  # refused before the export was audited


@pytest.mark.parametrize(
    ("folder", "message"), [("no-such-folder", "does not exist"), ("a-file", "is not a folder")]
)
def test_cli_file_in_a_folder_that_does_not_exist_is_refused_before_anything(
    app, world, tmp_path, monkeypatch, folder, message
):
    from service.subject_access import cli

    (tmp_path / "a-file").write_bytes(b"not a folder")
    read, find_user = [], cli.find_active_user
    monkeypatch.setattr(
        cli, "find_active_user", lambda *args: read.append(args) or find_user(*args)
    )
    target = tmp_path / folder / "x.zip"
    result = run_export(app, world.child_ids["a1"][0], target, world.usernames["manager"])
    assert result.exit_code == 2  # a usage error, as for a malformed id
    assert_one_line_error(result, message)
    assert read == []  # nothing looked up, nothing read
    assert events(app, "export") == [] and events(app, "denied") == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_cli_reports_the_files_missing_from_the_store(app, world, worker, manager, tmp_path):
    from service.evidence.models import Attachment

    shared = shared_visit(app, world, worker, manager)
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(shared.child_file)).store_key
    app.extensions["evidence_store"].delete(key)
    result = run_export(app, shared.child_id, tmp_path / "export.zip", world.usernames["manager"])
    assert result.exit_code == 0, result.output
    assert "1 evidence file(s) missing from the store" in result.output
    assert shared.child_file in result.output


def test_cli_exports_an_object_missing_from_the_store_as_missing(
    app, world, worker, manager, tmp_path
):
    from service.evidence.models import Attachment

    shared = shared_visit(app, world, worker, manager)
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(shared.child_file)).store_key
    app.extensions["evidence_store"].delete(key)  # moved out of the folder, or a lost S3 key
    target = tmp_path / "export.zip"
    result = run_export(app, shared.child_id, target, world.usernames["manager"])
    assert result.exit_code == 0, result.output
    names, files = unpack(target.read_bytes())
    check_manifest(names, files)
    assert not any(name.startswith("evidence/") for name in names)
    index = {item["id"]: item for item in json.loads(files["evidence.json"])["evidence"]}
    assert index[shared.child_file]["status"] == "missing"
    assert index[shared.child_file]["sha256"] == hashlib.sha256(shared.uploads["child"]).hexdigest()
    assert shared.child_file in files["README.txt"].decode()


def test_memory_stays_flat_while_a_large_evidence_file_streams(app, world, worker, manager):
    """A large video (random bytes: deflate cannot shrink them) goes through the zip without
    being held: tracemalloc's peak while the whole response streams stays a few MiB, whatever
    the file's size (measured: see the README).
    """
    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a2"])))
    visit_id, attachment_id = new_id(), new_id()
    child_id = world.child_ids["a2"][0]
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    large = MP4 + os.urandom(LARGE_MIB * MIB)
    uploaded = worker.post(
        f"/visits/{visit_id}/attachments",
        data=large,
        content_type="video/mp4",
        headers={
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": "video",
            "X-Filename": "large.mp4",
            "X-Child-Id": child_id,
        },
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    expected = hashlib.sha256(large).hexdigest()
    del large
    response = manager.get(f"/children/{child_id}/export")
    assert response.status_code == 200
    digest, received, chunks = hashlib.sha256(), 0, 0
    tracemalloc.start()
    try:
        for chunk in response.response:
            digest.update(chunk)
            received += len(chunk)
            chunks += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received > LARGE_MIB * MIB and chunks > LARGE_MIB * 15  # 64 KiB at a time
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB while streaming a {LARGE_MIB} MiB file"
    print(
        f"\nexport with a {LARGE_MIB} MiB file: {chunks} chunks, {received} bytes, peak {peak / MIB:.2f} MiB"
    )
    # And the file arrives whole: export again, unpacked.
    names, files = unpack(manager.get(f"/children/{child_id}/export").get_data())
    name = next(n for n in names if n.startswith(f"evidence/{attachment_id}-"))
    assert hashlib.sha256(files[name]).hexdigest() == expected
    check_manifest(names, files)
