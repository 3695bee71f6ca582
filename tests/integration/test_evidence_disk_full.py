"""A full local evidence disk: the upload is a 507 with a clear code, nothing is half-written.

The disk is really full: the evidence folder is a 1 MiB tmpfs mounted for the test (needs root,
as the developers' machines and CI have; elsewhere the test skips), so the write fails with the
kernel's own ENOSPC, not a simulated one.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from service.evidence.models import Attachment
from service.extensions import db
from tests.evidence_files import PDF, jpeg_with_gps
from tests.factories import make_case, make_team, make_user, new_id, standalone_app, visit_body
from tests.served import served_app

MIB = 1024 * 1024


@pytest.fixture
def full_disk(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(  # noqa: S603 - fixed arguments
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)  # noqa: S603, S607


def upload(client, headers, visit_id, attachment_id, body):
    return client.post(
        f"/api/v1/visits/{visit_id}/attachments",
        data=body,
        content_type="application/pdf",
        headers={
            **headers,
            "X-Attachment-Id": attachment_id,
            "X-Attachment-Kind": "document",
            "X-Filename": "letter.pdf",
        },
    )


def test_a_full_disk_is_507_and_nothing_is_half_written(full_disk, tmp_path):
    app, client, headers, body = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'full.db'}",
            "EVIDENCE_STORE": f"file://{full_disk}",
        }
    )
    try:
        visit_id = new_id()
        assert (
            client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers).status_code == 201
        )
        attachment_id = new_id()
        too_big = PDF + b"\n" * (2 * MIB)
        response = upload(client, headers, visit_id, attachment_id, too_big)
        assert response.status_code == 507, response.get_json()
        assert response.get_json()["code"] == "evidence.store_full"
        assert response.headers["Retry-After"]
        with app.app_context():
            assert db.session.get(Attachment, uuid.UUID(attachment_id)) is None
        leftovers = [path for path in full_disk.rglob("*") if path.is_file()]
        assert leftovers == []  # the partial file went with the failure
        # Its space came back: a file that fits is stored, under the same id.
        retried = upload(client, headers, visit_id, attachment_id, PDF)
        assert retried.status_code == 201, retried.get_json()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_full_temporary_folder_while_cleaning_a_photo_is_507_not_500(full_disk, tmp_path):
    """Photos are spooled to the server's temporary folder past 8 MiB, before their metadata is
    removed: that folder (TMPDIR, here the full tmpfs) filling up is a 507 too.
    """
    with served_app(
        f"sqlite:///{tmp_path / 'served.db'}",
        tmp_path,
        workers=1,
        worker_class="sync",
        env={"TMPDIR": str(full_disk)},
    ) as served:

        def build():
            team = make_team()
            worker = make_user("social_worker", [team])
            return worker.username, visit_body(make_case(team, worker, 1))

        username, body = served.seed(build)
        worker = served.api.sign_in(username)
        visit_id = new_id()
        assert worker.put(f"/visits/{visit_id}", json=body).status == 201
        photo = jpeg_with_gps() + b"\0" * (10 * MIB)
        connection = served.api.connect()
        connection.request(
            "POST",
            f"/api/v1/visits/{visit_id}/attachments",
            body=photo,
            headers={
                "Authorization": f"Bearer {worker.token}",
                "Content-Type": "image/jpeg",
                "X-Attachment-Id": new_id(),
                "X-Attachment-Kind": "photo",
                "X-Filename": "photo.jpg",
            },
        )
        response = connection.getresponse()
        problem = response.read()
        connection.close()
        assert response.status == 507, (problem, served.log())
        assert b"evidence.store_full" in problem
        assert [path for path in full_disk.rglob("*") if path.is_file()] == []
