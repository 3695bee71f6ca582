"""Evidence through the API: checks on the bytes, metadata removal, idempotency, scope."""

import hashlib
import io
import threading
import uuid

import pytest
from PIL import Image

from service.evidence.models import Attachment
from service.extensions import db
from tests.evidence_files import M4A, MP4, PDF, jpeg_with_gps, png_with_text
from tests.factories import new_id, visit_body


@pytest.fixture
def visit_id(app, world, worker):
    from service.cases.models import Case

    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a1"])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    return visit_id


def upload(
    session,
    visit_id,
    data,
    kind="photo",
    filename="bedroom.jpg",
    content_type="image/jpeg",
    **headers,
):
    headers = {
        "X-Attachment-Id": headers.pop("attachment_id", new_id()),
        "X-Attachment-Kind": kind,
        "X-Filename": filename,
        **headers,
    }
    return session.post(
        f"/visits/{visit_id}/attachments", data=data, content_type=content_type, headers=headers
    )


def content(session, attachment_id, **kwargs):
    response = session.get(f"/attachments/{attachment_id}/content", **kwargs)
    body = response.get_data()
    response.close()
    return response, body


def count(app):
    with app.app_context():
        return db.session.query(Attachment).count()


def test_photo_gps_and_camera_metadata_are_removed(worker, visit_id):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # it really has GPS
    response = upload(
        worker, visit_id, original, X_Content_SHA256=hashlib.sha256(original).hexdigest()
    )
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert record["metadata_removed"] is True and record["content_type"] == "image/jpeg"
    assert record["sha256"] == hashlib.sha256(original).hexdigest() and record["size"] == len(
        original
    )
    served, body = content(worker, record["id"])
    assert served.status_code == 200
    cleaned = Image.open(io.BytesIO(body))
    assert dict(cleaned.getexif()) == {}
    assert b"FamilyPhone" not in body
    assert cleaned.size == (48, 64)  # orientation 6 applied, so the picture still stands upright


def test_png_text_chunks_are_removed(worker, visit_id):
    response = upload(
        worker,
        visit_id,
        png_with_text(),
        kind="drawing",
        filename="houses.png",
        content_type="image/png",
    )
    assert response.status_code == 201
    _, body = content(worker, response.get_json()["id"])
    assert b"Example Street" not in body and Image.open(io.BytesIO(body)).size == (20, 10)


def test_content_is_served_as_a_download(worker, visit_id):
    record = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="letter.pdf",
        content_type="application/pdf",
    ).get_json()
    response, body = content(worker, record["id"])
    assert body == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=letter.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_recording_in_an_mp4_container_is_kept_as_audio(worker, visit_id):
    """Chromium's MediaRecorder writes an MP4 whose brand says video (found trying the app)."""
    record = upload(
        worker, visit_id, MP4, kind="audio", filename="recording.m4a", content_type="audio/mp4"
    ).get_json()
    assert record["content_type"] == "audio/mp4"
    response, _ = content(worker, record["id"])
    assert response.headers["Content-Type"] == "audio/mp4"


def test_range_requests_for_audio(worker, visit_id):
    record = upload(
        worker, visit_id, M4A, kind="audio", filename="voice.m4a", content_type="audio/mp4"
    ).get_json()
    assert record["content_type"] == "audio/mp4"
    response, body = content(worker, record["id"], headers={"Range": "bytes=4-11"})
    assert response.status_code == 206 and body == M4A[4:12]
    assert response.headers["Content-Range"] == f"bytes 4-11/{len(M4A)}"
    unsatisfiable, _ = content(worker, record["id"], headers={"Range": f"bytes={len(M4A) + 5}-"})
    assert unsatisfiable.status_code == 416


def test_multipart_upload(worker, visit_id, world):
    data = {
        "file": (io.BytesIO(MP4), "clip.mp4", "video/mp4"),
        "attachment_id": new_id(),
        "kind": "video",
        "child_id": world.child_ids["a1"][0],
    }
    response = worker.post(
        f"/visits/{visit_id}/attachments", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["child_id"] == world.child_ids["a1"][0]
    assert response.get_json()["filename"] == "clip.mp4"
    extra = {
        **data,
        "file": (io.BytesIO(MP4), "clip.mp4"),
        "attachment_id": new_id(),
        "owner": "me",
    }
    refused = worker.post(
        f"/visits/{visit_id}/attachments", data=extra, content_type="multipart/form-data"
    )
    assert refused.status_code == 422 and "owner" in refused.get_json()["errors"]


@pytest.mark.parametrize(
    ("data", "kind", "filename", "content_type", "status", "code"),
    [
        (b"", "photo", "empty.jpg", "image/jpeg", 422, "attachment.empty"),
        (
            png_with_text(),
            "document",
            "scan.pdf",
            "application/pdf",
            415,
            "attachment.type_not_allowed",
        ),
        (
            png_with_text(),
            "photo",
            "bedroom.pdf",
            "application/octet-stream",
            415,
            "attachment.extension_mismatch",
        ),
        (png_with_text(), "photo", "bedroom.png", "image/jpeg", 415, "attachment.type_mismatch"),
        (PDF, "photo", "bedroom.jpg", "image/jpeg", 415, "attachment.type_not_allowed"),
        (
            b"MZ\x90\x00" + b"\x00" * 100,
            "document",
            "x.pdf",
            "application/pdf",
            415,
            "attachment.type_not_allowed",
        ),
        (
            b"\xff\xd8\xff\xe0" + b"garbage" * 10,
            "photo",
            "broken.jpg",
            "image/jpeg",
            422,
            "attachment.unreadable_image",
        ),
    ],
    ids=[
        "empty",
        "png-as-document",
        "png-renamed-pdf",
        "png-labelled-jpeg",
        "pdf-as-photo",
        "exe-as-pdf",
        "broken-jpeg",
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(
    app, worker, visit_id, data, kind, filename, content_type, status, code
):
    response = upload(
        worker, visit_id, data, kind=kind, filename=filename, content_type=content_type
    )
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    assert count(app) == 0


def test_oversized_file_is_413_and_nothing_is_kept(app, worker, visit_id):
    app.config["EVIDENCE_MAX_MB"]["document"] = 1
    try:
        big = PDF + b"0" * (2 * 1024 * 1024)
        declared = upload(
            worker,
            visit_id,
            big,
            kind="document",
            filename="big.pdf",
            content_type="application/pdf",
        )
        chunked = worker.post(
            f"/visits/{visit_id}/attachments",
            input_stream=io.BytesIO(big),
            content_type="application/pdf",
            headers={
                "X-Attachment-Id": new_id(),
                "X-Attachment-Kind": "document",
                "Transfer-Encoding": "chunked",
            },
            environ_base={"wsgi.input_terminated": True},
        )
    finally:
        app.config["EVIDENCE_MAX_MB"]["document"] = 50
    assert declared.status_code == 413 and declared.get_json()["code"] == "attachment.too_large"
    assert chunked.status_code == 413
    assert count(app) == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\system32\\x.jpg", "x.jpg"),
        ("CON.jpg", "_CON.jpg"),
        ("photo\x00.jpg", "photo.jpg"),
        ("../..", "attachment.jpg"),
        (".jpg", "attachment.jpg"),
    ],
)
def test_filenames_are_sanitised(app, worker, visit_id, given, stored):
    response = upload(worker, visit_id, jpeg_with_gps(), filename=given.replace("\x00", ""))
    if "\x00" in given:
        response = upload(worker, visit_id, jpeg_with_gps(), filename="photo.jpg")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["filename"] == stored


def test_wrong_digest_is_422_and_nothing_is_kept(app, worker, visit_id):
    response = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        X_Content_SHA256="0" * 64,
    )
    assert (
        response.status_code == 422 and response.get_json()["code"] == "attachment.digest_mismatch"
    )
    assert count(app) == 0
    bad_header = upload(
        worker, visit_id, PDF, kind="document", filename="l.pdf", X_Content_SHA256="not-hex"
    )
    assert bad_header.status_code == 422 and "sha256" in bad_header.get_json()["errors"]


def test_replay_returns_the_record_and_different_bytes_conflict(app, worker, visit_id):
    attachment_id = new_id()
    first = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    replay = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.get_json() == first.get_json()
    other = upload(
        worker,
        visit_id,
        PDF + b"%changed",
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    assert other.status_code == 409 and other.get_json()["code"] == "attachment.id_conflict"
    assert count(app) == 1


def test_concurrent_duplicate_uploads_keep_one(app, world, visit_id):
    attachment_id, statuses = new_id(), []
    token = None
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token",
        json={"username": world.usernames["worker_a"], "password": "correct horse battery staple"},
    ).get_json()["access_token"]
    barrier = threading.Barrier(3)

    def send():
        barrier.wait()
        response = app.test_client().post(
            f"/api/v1/visits/{visit_id}/attachments",
            data=PDF,
            content_type="application/pdf",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Attachment-Id": attachment_id,
                "X-Attachment-Kind": "document",
                "X-Filename": "l.pdf",
            },
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses)[-1] == 201 and all(s in (200, 201) for s in statuses), statuses
    assert count(app) == 1


def test_another_workers_visit_is_404(world, sign_in, visit_id):
    other = sign_in(world.usernames["worker_b"])
    response = upload(
        other, visit_id, PDF, kind="document", filename="l.pdf", content_type="application/pdf"
    )
    assert response.status_code == 404


def test_who_may_read_evidence(world, sign_in, worker, visit_id):
    record = upload(
        worker, visit_id, PDF, kind="document", filename="l.pdf", content_type="application/pdf"
    ).get_json()
    expected = {
        "supervisor_a": 200,
        "manager": 200,
        "worker_a2": 404,
        "supervisor_b": 404,
        "worker_b": 404,
        "admin": 403,
    }
    for role, status in expected.items():
        caller = sign_in(world.usernames[role])
        response, _ = content(caller, record["id"])
        assert response.status_code == status, role
        assert caller.get(f"/visits/{visit_id}/attachments").status_code == status, role


def test_child_must_be_on_the_visit(world, worker, visit_id):
    response = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        X_Child_Id=world.child_ids["b1"][0],
    )
    assert response.status_code == 422 and "child_id" in response.get_json()["errors"]


def test_delete_only_on_a_draft_and_the_object_goes(app, worker, visit_id):
    keep = upload(
        worker, visit_id, PDF, kind="document", filename="a.pdf", content_type="application/pdf"
    ).get_json()
    drop = upload(
        worker, visit_id, PDF, kind="document", filename="b.pdf", content_type="application/pdf"
    ).get_json()
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(drop["id"])).store_key
        store = app.extensions["evidence_store"]
        assert store.size(key) == len(PDF)
    assert worker.delete(f"/attachments/{drop['id']}").status_code == 204
    with pytest.raises(FileNotFoundError):
        store.size(key)
    assert [a["id"] for a in worker.get(f"/visits/{visit_id}/attachments").get_json()] == [
        keep["id"]
    ]
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    assert worker.delete(f"/attachments/{keep['id']}").status_code == 409
    late = upload(
        worker, visit_id, PDF, kind="document", filename="c.pdf", content_type="application/pdf"
    )
    assert late.status_code == 409


def test_deleting_a_draft_visit_deletes_its_evidence(app, worker, visit_id):
    record = upload(
        worker, visit_id, PDF, kind="document", filename="a.pdf", content_type="application/pdf"
    ).get_json()
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(record["id"])).store_key
    assert worker.delete(f"/visits/{visit_id}").status_code == 204
    assert count(app) == 0
    with pytest.raises(FileNotFoundError):
        app.extensions["evidence_store"].size(key)


def test_a_drawing_counts_as_the_childs_views(app, world, worker):
    from service.cases.models import Case

    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids["a2"])))
    body["children"][0]["voice"] = {"method": "drawing"}
    visit_id = new_id()
    worker.put(f"/visits/{visit_id}", json=body)
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 422
    drawing = upload(
        worker,
        visit_id,
        png_with_text(),
        kind="drawing",
        filename="houses.png",
        content_type="image/png",
        X_Child_Id=world.child_ids["a2"][0],
    )
    assert drawing.status_code == 201
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200


def test_reconcile_removes_orphans_and_reports_missing_objects(app, worker, visit_id):
    record = upload(
        worker, visit_id, PDF, kind="document", filename="a.pdf", content_type="application/pdf"
    ).get_json()
    store = app.extensions["evidence_store"]
    store.put(f"visits/{visit_id}/orphan-1", io.BytesIO(b"left behind"))
    runner = app.test_cli_runner()
    young = runner.invoke(args=["evidence", "reconcile"])
    assert young.exit_code == 0 and "0 orphans removed" in young.output  # inside the grace period
    result = runner.invoke(args=["evidence", "reconcile", "--grace-minutes", "0"])
    assert result.exit_code == 0 and "1 orphans removed" in result.output
    assert f"visits/{visit_id}/orphan-1" not in {item.key for item in store.list("visits/")}
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(record["id"])).store_key
    store.delete(key)
    missing = runner.invoke(args=["evidence", "reconcile", "--grace-minutes", "0"])
    assert missing.exit_code == 1 and f"MISSING object for record: {key}" in missing.output


def test_a_replay_after_submit_still_returns_the_record(worker, visit_id):
    attachment_id = new_id()
    first = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    replay = upload(
        worker,
        visit_id,
        PDF,
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    # The same record, now part of the submitted version.
    assert replay.status_code == 200
    assert replay.get_json() == {**first.get_json(), "in_record": True, "first_version": 1}
    different = upload(
        worker,
        visit_id,
        PDF + b"%x",
        kind="document",
        filename="l.pdf",
        content_type="application/pdf",
        attachment_id=attachment_id,
    )
    assert different.status_code == 409
    new = upload(
        worker, visit_id, PDF, kind="document", filename="m.pdf", content_type="application/pdf"
    )
    assert new.status_code == 409 and new.get_json()["code"] == "visit.not_editable"


def test_a_failed_commit_keeps_the_object_of_a_deleted_attachment(
    app, worker, visit_id, monkeypatch
):
    """The object goes only once the row's deletion has committed."""
    from sqlalchemy.exc import OperationalError

    record = upload(
        worker, visit_id, PDF, kind="document", filename="a.pdf", content_type="application/pdf"
    ).get_json()
    with app.app_context():
        key = db.session.get(Attachment, uuid.UUID(record["id"])).store_key
    real_commit = db.session.commit

    def failing_commit():
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    monkeypatch.setattr(db.session, "commit", failing_commit)
    assert worker.delete(f"/attachments/{record['id']}").status_code == 503
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert app.extensions["evidence_store"].size(key) == len(PDF)
    assert worker.get(f"/visits/{visit_id}/attachments").get_json()[0]["id"] == record["id"]
