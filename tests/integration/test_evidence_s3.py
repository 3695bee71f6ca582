"""Evidence through the API on an S3 store: presigned redirects, and the store going away."""

import time
import urllib.request
import uuid

import pytest

from service.evidence.models import Attachment
from service.extensions import db
from tests.evidence_files import PDF
from tests.factories import new_id, standalone_app
from tests.s3server import S3Server


@pytest.fixture
def s3_app(tmp_path):
    server = S3Server().start()
    server.create_bucket("council-evidence")
    app, client, headers, body = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 's3.db'}",
            "EVIDENCE_STORE": "s3://council-evidence/seen-and-heard",
            **server.settings(),
            "S3_CONNECT_TIMEOUT": 1,
            "S3_READ_TIMEOUT": 3,
            "S3_MAX_ATTEMPTS": 1,
        }
    )
    visit_id = new_id()
    assert client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers).status_code == 201
    yield app, client, headers, visit_id, server
    server.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def upload(client, headers, visit_id, attachment_id):
    return client.post(
        f"/api/v1/visits/{visit_id}/attachments",
        data=PDF,
        content_type="application/pdf",
        headers={
            **headers,
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": "document",
            "X-Filename": "letter.pdf",
        },
    )


def test_presigned_redirect(s3_app):
    _, client, headers, visit_id, _ = s3_app
    record = upload(client, headers, visit_id, new_id()).get_json()
    response = client.get(
        f"/api/v1/attachments/{record['id']}/content?redirect=true", headers=headers
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "X-Amz-Expires=60" in location and "seen-and-heard/visits/" in location
    with urllib.request.urlopen(location, timeout=5) as fetched:  # noqa: S310 - loopback
        assert fetched.read() == PDF
        assert fetched.headers["Content-Type"] == "application/pdf"
    streamed = client.get(f"/api/v1/attachments/{record['id']}/content", headers=headers)
    assert streamed.get_data() == PDF
    streamed.close()


def test_store_outage_is_503_fast_and_nothing_half_stored(s3_app):
    app, client, headers, visit_id, server = s3_app
    assert client.get("/readyz").status_code == 200
    server.stop()
    attachment_id = new_id()
    started = time.monotonic()
    response = upload(client, headers, visit_id, attachment_id)
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["code"] == "evidence.store_unavailable"
    assert elapsed < 10
    with app.app_context():
        assert db.session.get(Attachment, uuid.UUID(attachment_id)) is None
    ready = client.get("/readyz")
    assert (
        ready.status_code == 503 and ready.get_json()["checks"]["evidence_store"] == "unavailable"
    )
    visit = client.get(f"/api/v1/visits/{visit_id}", headers=headers)
    assert visit.status_code == 200  # the visit itself is unaffected
    server.start()  # the same data folder: the bucket is still there
    # The store could not be reached, so the breaker fails uploads fast for its cool-down...
    assert upload(client, headers, visit_id, attachment_id).status_code == 503
    # ...but /readyz really probes, sees the store back, and closes it.
    assert client.get("/readyz").status_code == 200
    retried = upload(client, headers, visit_id, attachment_id)
    assert retried.status_code == 201, retried.get_json()
