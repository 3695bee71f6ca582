"""The desk's review queue, visit page and decision form, in process (no browser)."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from PIL import Image

from service.audit.models import AuditEvent
from service.evidence.models import Attachment
from service.extensions import db
from service.reviews.models import Review
from tests.desk import desk_sign_in
from tests.evidence_files import jpeg_with_gps
from tests.factories import OWN_WORDS
from tests.review_pages_support import returned_and_resubmitted, submitted_visit


def desk(app, client, world, key):
    """``client`` signed in to the desk as ``world``'s user ``key``."""
    desk_sign_in(client, world.usernames[key])
    return client


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def decision_form(page_html: str, **fields) -> dict[str, str]:
    etag = re.search(r'name="etag" value="([^"]*)"', page_html).group(1)
    return {"csrf_token": csrf_token(page_html), "etag": etag.replace("&#34;", '"'), **fields}


@pytest.fixture
def reviewer(app, client, world):
    return desk(app, client, world, "supervisor_a")


def test_the_queue_lists_flags_and_counts(app, world, worker, reviewer):
    submitted_visit(app, worker, world.case_ids["a1"], not_seen=True)
    submitted_visit(app, worker, world.case_ids["a2"])
    page = reviewer.get("/desk/reviews")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2 visits awaiting a decision" in html
    assert 'Child not seen: <span class="app-count">1</span>' in html
    filtered = reviewer.get("/desk/reviews?flag=not_seen").get_data(as_text=True)
    assert "1 visit awaiting a decision with these filters" in filtered
    bad = reviewer.get("/desk/reviews?older_than_days=lots").get_data(as_text=True)
    assert "Enter a whole number of days" in bad and "2 visits awaiting" in bad


def test_the_visit_page_shows_the_childs_words_exactly_and_what_changed(
    app, world, worker, supervisor, reviewer
):
    words = "I said <b>no</b>\n  and   Nan laughed."
    visit_id, _ = returned_and_resubmitted(app, worker, supervisor, world.case_ids["a2"], words)
    with app.app_context():
        before = db.session.query(AuditEvent).filter_by(action="read").count()
    page = reviewer.get(f"/desk/visits/{visit_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "no-store" in page.headers.get("Cache-Control", "")
    assert "I said &lt;b&gt;no&lt;/b&gt;\n  and   Nan laughed." in html  # escaped, spacing kept
    assert "In their own words:</span>" in html and "<ins>" in html  # versions 1 to 2
    assert "Add what the child said about school." in html  # the earlier return
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(action="read").count() > before


def test_the_evidence_is_fetched_through_our_endpoints(app, world, worker, reviewer):
    visit_id, _ = submitted_visit(
        app, worker, world.case_ids["a2"], evidence=("photo", "audio", "document")
    )
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    with app.app_context():
        ids = {row.kind: str(row.id) for row in db.session.query(Attachment)}
    assert f'src="/desk/attachments/{ids["photo"]}/thumbnail"' in html
    assert (
        f'<audio class="app-player" controls preload="none" src="/desk/attachments/{ids["audio"]}/play"'
        in html
    )
    assert f'href="/desk/attachments/{ids["document"]}/download"' in html
    played = reviewer.get(f"/desk/attachments/{ids['audio']}/play", headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and played.mimetype == "audio/mp4"
    assert played.headers["Content-Disposition"].startswith("inline")
    document = reviewer.get(f"/desk/attachments/{ids['document']}/download")
    assert document.headers["Content-Disposition"].startswith("attachment")
    assert reviewer.get(f"/desk/attachments/{ids['document']}/play").status_code == 404
    assert reviewer.get(f"/desk/attachments/{ids['document']}/thumbnail").status_code == 404


def test_erased_evidence_is_a_tombstone_never_fetched(app, world, worker, reviewer, sign_in):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"], evidence=("photo",))
    with app.app_context():
        photo_id = str(db.session.query(Attachment).one().id)
    manager = sign_in(world.usernames["manager"])
    assert (
        manager.post(f"/attachments/{photo_id}/erase", json={"reason": "Wrong family"}).status_code
        == 200
    )
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    assert "Erased from the record by a manager: Wrong family" in html
    assert f"/desk/attachments/{photo_id}/" not in html
    assert reviewer.get(f"/desk/attachments/{photo_id}/thumbnail").status_code == 410


def test_a_thumbnail_has_no_exif(app, world, worker, reviewer):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"])
    # Straight into the store, bypassing the upload's own stripping: the thumbnail strips too.
    original = jpeg_with_gps(width=1000, height=800, orientation=1)
    assert b"FamilyPhone" in original
    store = app.extensions["evidence_store"]
    key = f"visits/{visit_id}/raw-{uuid.uuid4().hex}"
    store.put(key, io.BytesIO(original))
    with app.app_context():
        from service.visits.models import Visit

        visit = db.session.get(Visit, uuid.UUID(visit_id))
        row = Attachment(
            id=uuid.uuid4(),
            visit_id=visit.id,
            kind="photo",
            filename="raw.jpg",
            content_type="image/jpeg",
            sha256="0" * 64,
            size=len(original),
            stored_size=len(original),
            store_key=key,
            uploaded_by_id=visit.worker_id,
        )
        db.session.add(row)
        db.session.commit()
        attachment_id = row.id
    response = reviewer.get(f"/desk/attachments/{attachment_id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "no-store" in response.headers["Cache-Control"]
    body = response.get_data()
    image = Image.open(io.BytesIO(body))
    assert image.size == (320, 256) and not image.getexif() and "exif" not in image.info
    assert b"FamilyPhone" not in body and b"Exif" not in body


def test_a_decision_on_a_stale_version_says_the_visit_changed(app, world, worker, reviewer):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"])
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    form = decision_form(html, decision="approve")
    form["etag"] = '"1"'  # the version before submission
    response = reviewer.post(f"/desk/visits/{visit_id}/review", data=form)
    assert response.status_code == 409
    assert "This visit changed since you opened it" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Review).count() == 0


def test_return_needs_a_comment_and_approve_goes_through(app, world, worker, reviewer):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"])
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    refused = reviewer.post(
        f"/desk/visits/{visit_id}/review", data=decision_form(html, decision="return")
    )
    assert refused.status_code == 422
    assert "govuk-error-summary" in refused.get_data(as_text=True)
    assert "Say what needs to change" in refused.get_data(as_text=True)
    approved = reviewer.post(
        f"/desk/visits/{visit_id}/review", data=decision_form(html, decision="approve")
    )
    assert approved.status_code == 302 and approved.headers["Location"].endswith("/desk/reviews")
    with app.app_context():
        assert [r.decision for r in db.session.query(Review)] == ["approve"]


def test_another_teams_visit_is_a_404_page(app, client, world, worker):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"])
    other = desk(app, client, world, "supervisor_b")
    assert other.get(f"/desk/visits/{visit_id}").status_code == 404
    assert OWN_WORDS not in other.get(f"/desk/visits/{visit_id}").get_data(as_text=True)


def test_a_decision_without_the_csrf_token_is_refused(app, world, worker, reviewer):
    visit_id, _ = submitted_visit(app, worker, world.case_ids["a2"])
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    form = decision_form(html, decision="approve")
    del form["csrf_token"]
    response = reviewer.post(f"/desk/visits/{visit_id}/review", data=form)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(Review).count() == 0


def test_workers_and_admins_cannot_open_the_queue(app, client, world):
    assert desk(app, client, world, "admin").get("/desk/reviews").status_code == 403


def test_the_queue_is_paged_longest_wait_first(app, world, worker, reviewer, monkeypatch):
    from service.reviews import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    second, _ = submitted_visit(app, worker, world.case_ids["a2"])
    first, _ = submitted_visit(app, worker, world.case_ids["a1"])
    with app.app_context():
        from datetime import timedelta

        from service.visits.models import Visit

        waiting = db.session.get(Visit, uuid.UUID(first))
        waiting.last_submitted_at -= timedelta(days=3)
        db.session.commit()
    page_one = reviewer.get("/desk/reviews").get_data(as_text=True)
    assert f"/desk/visits/{first}" in page_one and f"/desk/visits/{second}" not in page_one
    assert 'href="/desk/reviews?page=2"' in page_one and "3 days" in page_one
    page_two = reviewer.get("/desk/reviews?page=2").get_data(as_text=True)
    assert f"/desk/visits/{second}" in page_two and 'aria-current="page">2<' in page_two


def test_page_links_leave_out_the_middle():
    from service.reviews.pages import page_links

    assert page_links(1, 1) == [1]
    assert page_links(1, 3) == [1, 2, 3]
    assert page_links(10, 40) == [1, None, 8, 9, 10, 11, 12, None, 40]


def test_a_draft_is_shown_as_it_stands_without_a_decision_form(app, world, worker, reviewer):
    from tests.review_pages_support import body_for

    visit_id = str(uuid.uuid4())
    assert (
        worker.put(f"/visits/{visit_id}", json=body_for(app, world.case_ids["a2"])).status_code
        == 201
    )
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    assert "Not submitted yet: shown as it stands." in html
    assert "Record the decision" not in html


def test_an_escalated_visit_offers_the_form_only_to_another_manager(
    app, world, worker, supervisor, reviewer
):
    visit_id, etag = submitted_visit(app, worker, world.case_ids["a2"])
    escalated = supervisor.post(
        f"/visits/{visit_id}/review",
        json={"decision": "escalate", "comment": "Concerns about the new partner"},
        headers={"If-Match": etag},
    )
    assert escalated.status_code == 201
    html = reviewer.get(f"/desk/visits/{visit_id}").get_data(as_text=True)
    assert "Record the decision" not in html
    assert "a manager other than the one who escalated it decides" in html
