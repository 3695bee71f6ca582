"""Thumbnails are cached in the evidence store and go wherever their attachment's bytes go:
erasure, deletion of a draft's evidence, retention purge, and ``evidence reconcile``.
"""

import io
import uuid

from PIL import Image

from service.evidence.models import Attachment
from service.evidence.thumbnails import thumbnail_of
from service.extensions import db
from tests.evidence_files import PDF, jpeg_with_gps
from tests.factories import new_id, visit_body
from tests.retention_support import make_due


def new_visit(app, world, worker, case="a1"):
    from service.cases.models import Case

    with app.app_context():
        body = visit_body(db.session.get(Case, uuid.UUID(world.case_ids[case])))
    visit_id = new_id()
    assert worker.put(f"/visits/{visit_id}", json=body).status_code == 201
    return visit_id


def upload_photo(worker, visit_id):
    response = worker.post(
        f"/visits/{visit_id}/attachments",
        data=jpeg_with_gps(width=1200, height=900),
        content_type="image/jpeg",
        headers={"X-Attachment-Id": new_id(), "X-Attachment-Kind": "photo", "X-Filename": "a.jpg"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def thumbnail(app, attachment_id):
    with app.app_context():
        made = thumbnail_of(db.session.get(Attachment, uuid.UUID(attachment_id)))
        key = db.session.get(Attachment, uuid.UUID(attachment_id)).thumbnail_key
    return made, key


def keys(app):
    return {item.key for item in app.extensions["evidence_store"].list()}


def test_made_once_then_served_from_the_store(app, world, worker):
    attachment_id = upload_photo(worker, new_visit(app, world, worker))
    made, key = thumbnail(app, attachment_id)
    assert key == f"thumbnails/{attachment_id}-320.jpg" and key in keys(app)
    assert Image.open(io.BytesIO(made.body)).size == (240, 320)  # stored upright already
    store = app.extensions["evidence_store"]
    store.delete(key)
    store.put(key, io.BytesIO(b"cached"))
    assert thumbnail(app, attachment_id)[0].body == b"cached"  # read back, not made again


def test_only_pictures_have_thumbnails(app, world, worker):
    visit_id = new_visit(app, world, worker)
    response = worker.post(
        f"/visits/{visit_id}/attachments",
        data=PDF,
        content_type="application/pdf",
        headers={"X-Attachment-Id": new_id(), "X-Attachment-Kind": "document"},
    )
    with app.app_context():
        attachment = db.session.get(Attachment, uuid.UUID(response.get_json()["id"]))
        assert attachment.thumbnail_key is None
        assert attachment.stored_keys == [attachment.store_key]


def test_erasure_takes_the_thumbnail_too(app, world, worker, sign_in):
    visit_id = new_visit(app, world, worker)
    attachment_id = upload_photo(worker, visit_id)
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    _, key = thumbnail(app, attachment_id)
    assert key in keys(app)
    manager = sign_in(world.usernames["manager"])
    erased = manager.post(f"/attachments/{attachment_id}/erase", json={"reason": "Wrong family"})
    assert erased.status_code == 200
    assert not any(attachment_id in stored for stored in keys(app))


def test_deleting_a_drafts_photo_takes_the_thumbnail_too(app, world, worker):
    visit_id = new_visit(app, world, worker)
    attachment_id = upload_photo(worker, visit_id)
    thumbnail(app, attachment_id)
    assert worker.delete(f"/attachments/{attachment_id}").status_code == 204
    assert not any(attachment_id in stored for stored in keys(app))


def test_purge_takes_the_thumbnails_of_the_case(app, world, worker):
    from service.retention.purge import purge

    visit_id = new_visit(app, world, worker, case="a2")
    attachment_id = upload_photo(worker, visit_id)
    assert worker.post(f"/visits/{visit_id}/submit").status_code == 200
    thumbnail(app, attachment_id)
    make_due(app, world.case_ids["a2"])
    with app.app_context():
        assert purge(uuid.UUID(world.case_ids["a2"]), app.extensions["evidence_store"])
    assert not any(attachment_id in stored for stored in keys(app))


def test_reconcile_removes_a_thumbnail_whose_attachment_is_gone(app, world, worker):
    attachment_id = upload_photo(worker, new_visit(app, world, worker))
    _, kept = thumbnail(app, attachment_id)
    stray = f"thumbnails/{uuid.uuid4()}-320.jpg"
    app.extensions["evidence_store"].put(stray, io.BytesIO(b"left behind"))
    result = app.test_cli_runner().invoke(args=["evidence", "reconcile"])
    assert result.exit_code == 0 and f"stray thumbnail {stray}" in result.output
    assert kept in keys(app) and stray not in keys(app)
