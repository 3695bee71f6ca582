"""Anchors on S3 with Object Lock in COMPLIANCE mode: written locked, and nobody can delete them
before the retention date; `audit verify` checks the chains against them.

SeaweedFS, like the rest of the S3 tests (tests/s3server.py): it enforces Object Lock COMPLIANCE
retention on deletes of a locked version (AccessDenied, even with a governance bypass), which is
what this test needs.
"""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from service.extensions import db
from tests.factories import new_id, standalone_app
from tests.s3server import S3Server


@pytest.fixture
def locked(tmp_path):
    server = S3Server().start()
    server.create_bucket("council-evidence")
    server.create_bucket("council-audit", object_lock=True)
    app, client, headers, body = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'lock.db'}",
            "EVIDENCE_STORE": "s3://council-evidence/seen-and-heard",
            "AUDIT_ANCHOR_STORE": "s3://council-audit/anchors",
            "AUDIT_ANCHOR_LOCK_DAYS": 2,
            **server.settings(),
        }
    )
    assert client.put(f"/api/v1/visits/{new_id()}", json=body, headers=headers).status_code == 201
    yield app, server
    server.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_anchors_are_locked_in_compliance_mode_and_cannot_be_deleted(locked):
    app, server = locked
    runner = app.test_cli_runner()
    anchored = runner.invoke(args=["audit", "anchor"])
    assert anchored.exit_code == 0, anchored.output
    s3 = server.client()
    listed = s3.list_object_versions(Bucket="council-audit", Prefix="anchors/")["Versions"]
    assert listed
    for version in listed:
        head = s3.head_object(
            Bucket="council-audit", Key=version["Key"], VersionId=version["VersionId"]
        )
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert datetime.now(UTC) + timedelta(days=1) < until < datetime.now(UTC) + timedelta(days=3)
        with pytest.raises(ClientError) as refused:
            s3.delete_object(
                Bucket="council-audit", Key=version["Key"], VersionId=version["VersionId"]
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as bypassed:  # COMPLIANCE, not GOVERNANCE: no bypass
            s3.delete_object(
                Bucket="council-audit",
                Key=version["Key"],
                VersionId=version["VersionId"],
                BypassGovernanceRetention=True,
            )
        assert bypassed.value.response["Error"]["Code"] == "AccessDenied"
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    # An attacker's plain DELETE only adds a delete marker: the locked version stays, and
    # verify (which lists current objects) reports the chain's anchor as missing.
    for version in listed:
        s3.delete_object(Bucket="council-audit", Key=version["Key"])
    assert s3.list_object_versions(Bucket="council-audit", Prefix="anchors/")["Versions"]
    missing = runner.invoke(args=["audit", "verify"])
    assert missing.exit_code == 1 and "missing anchor" in missing.output


def test_an_unreachable_anchor_store_is_one_line_not_a_traceback(tmp_path):
    from tests.s3server import free_port

    app, client, headers, body = standalone_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'down.db'}",
            "AUDIT_ANCHOR_STORE": "s3://council-audit/anchors",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
            "S3_ADDRESSING_STYLE": "path",
            "S3_ACCESS_KEY_ID": "nobody",
            "S3_SECRET_ACCESS_KEY": "nothing",
            "S3_CONNECT_TIMEOUT": 1,
            "S3_MAX_ATTEMPTS": 1,
        }
    )
    assert client.put(f"/api/v1/visits/{new_id()}", json=body, headers=headers).status_code == 201
    runner = app.test_cli_runner()
    for command in (["audit", "verify"], ["audit", "anchor"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 1, result.output
        assert "the anchor store cannot be read or written" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    with app.app_context():
        db.engine.dispose()
