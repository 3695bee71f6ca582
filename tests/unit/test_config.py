import base64
from pathlib import Path
from typing import Any

import pytest

from service.config import DEMO_SECRET, ConfigError, database_url, load_settings

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
SHARED_LIMITS = "redis://127.0.0.1:6379/5"
PUBLIC = "https://visits.council.example"


def settings(**env: str):
    return load_settings(env=env, instance_path=Path("/tmp/instance"))


def test_defaults_use_embedded_sqlite_and_local_evidence():
    s = settings()
    assert s.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/instance/seen_and_heard.db"
    assert s.EVIDENCE_STORE == "file:///tmp/instance/evidence"
    assert s.JWT_ACCESS_TTL_SECONDS == 900
    assert s.S3_FAIL_FAST_SECONDS == 15
    assert settings(S3_FAIL_FAST_SECONDS="0").S3_FAIL_FAST_SECONDS == 0  # turned off


def test_postgres_urls_get_the_psycopg_driver():
    assert database_url("postgresql://u@h/db", Path(".")) == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db", Path(".")) == "postgresql+psycopg://u@h/db"
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_url("mysql://u@h/db", Path("."))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JWT_ACCESS_TTL_SECONDS": "lots"}, "whole number"),
        ({"JWT_ACCESS_TTL_SECONDS": "5"}, "between 60 and 3600"),
        ({"RATELIMIT_ENABLED": "perhaps"}, "true or false"),
        ({"SEEN_HEARD_ENV": "prod"}, "SEEN_HEARD_ENV"),
        ({"CORE_SYSTEM_URL": "ftp://core"}, "CORE_SYSTEM_URL"),
        ({"TIMESCALES": "{not json"}, "must be JSON"),
        ({"TIMESCALES": '{"child_protection": {"every": "ten days"}}'}, "10wd"),
        ({"TIMESCALES": '{"adoption": {"every": "6w"}}'}, "unknown plan types"),
        ({"TIMESCALES": '{"care_leaver": {"first": "1w"}}'}, "needs an 'every'"),
        ({"JWT_JWKS_URL": "https://idp/jwks"}, "JWT_OIDC_ISSUER"),
        ({"JWT_JWKS_TIMEOUT_SECONDS": "0"}, "JWT_JWKS_TIMEOUT_SECONDS.*between 1 and 30"),
        ({"JWT_JWKS_TIMEOUT_SECONDS": "60"}, "JWT_JWKS_TIMEOUT_SECONDS.*between 1 and 30"),
        ({"JWT_JWKS_REFRESH_SECONDS": "0"}, "JWT_JWKS_REFRESH_SECONDS.*between 1 and 300"),
        ({"DATABASE_TIMEOUT_SECONDS": "1"}, "DATABASE_TIMEOUT_SECONDS.*between 2 and 60"),
        ({"DATABASE_TIMEOUT_SECONDS": "soon"}, "DATABASE_TIMEOUT_SECONDS.*whole number"),
        (
            {"COMMAND_DATABASE_TIMEOUT_SECONDS": "1"},
            "COMMAND_DATABASE_TIMEOUT_SECONDS.*between 2 and 86400",
        ),
        ({"WORKER_DATABASE_TIMEOUT_SECONDS": "0"}, "WORKER_DATABASE_TIMEOUT_SECONDS.*between 2"),
        ({"WORKER_DATABASE_TIMEOUT_SECONDS": "1h"}, "WORKER_DATABASE_TIMEOUT_SECONDS.*whole"),
        ({"JWT_OIDC_ROLE_MAP": "csc-worker"}, "claim_value=role"),
        ({"OIDC_ISSUER": "https://login.council.test"}, "go together"),
        ({"OIDC_ISSUER": "login.council.test"}, "OIDC_ISSUER must be a URL"),
        (
            {
                "OIDC_ISSUER": "https://login.council.test",
                "OIDC_CLIENT_ID": "desk",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_SCOPES": "profile email",
            },
            "must include openid",
        ),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
                "RATELIMIT_STORAGE_URI": SHARED_LIMITS,
                "PUBLIC_BASE_URL": PUBLIC,
                "OIDC_ISSUER": "http://login.council.test",
                "OIDC_CLIENT_ID": "desk",
                "OIDC_CLIENT_SECRET": "s",
            },
            "OIDC_ISSUER must be https",
        ),
        ({"CORE_SYSTEM_URL": "https://core.council.test"}, "needs CORE_SYSTEM_TOKEN"),
        ({"CORE_SYSTEM_TOKEN_URL": "https://idp/token"}, "go together"),
        (
            {
                "CORE_SYSTEM_TOKEN": "t",
                "CORE_SYSTEM_TOKEN_URL": "https://idp/token",
                "CORE_SYSTEM_CLIENT_ID": "a",
                "CORE_SYSTEM_CLIENT_SECRET": "b",
            },
            "not both",
        ),
        ({"CORE_SYSTEM_MAPPING": "tribal"}, "no built-in mapping 'tribal'"),
        ({"CORE_SYSTEM_MAPPING": "/nonexistent/mapping.json"}, "cannot read"),
        ({"OUTBOX_LEASE_SECONDS": "30"}, "more than 50"),
        ({"DATABASE_PING_AFTER_IDLE_SECONDS": "-1"}, "DATABASE_PING_AFTER_IDLE_SECONDS"),
        ({"DATABASE_PING_AFTER_IDLE_SECONDS": "soon"}, "DATABASE_PING_AFTER_IDLE_SECONDS"),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
                "RATELIMIT_STORAGE_URI": SHARED_LIMITS,
                "PUBLIC_BASE_URL": PUBLIC,
                "CORE_SYSTEM_TOKEN": "t",
                "CORE_SYSTEM_URL": "http://core.council.test",
            },
            "CORE_SYSTEM_URL must be https",
        ),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
                "RATELIMIT_STORAGE_URI": SHARED_LIMITS,
                "PUBLIC_BASE_URL": PUBLIC,
                "CORE_SYSTEM_TOKEN": "t",
                "CORE_SYSTEM_URL": "https://core.council.test",
            },
            "SERVICE_URL must be https",
        ),
        ({"OUTBOX_BACKOFF_SECONDS": "60", "OUTBOX_BACKOFF_MAX_SECONDS": "10"}, "at least"),
        ({"AUDIT_SIGNING_KEY": "c2hvcnQ="}, "32 random bytes"),
        ({"AUDIT_SIGNING_KEY": "not base64!"}, "32 random bytes"),
        ({"AUDIT_ANCHOR_STORE": "ftp://x"}, "AUDIT_ANCHOR_STORE"),
        ({"AUDIT_ANCHOR_LOCK_DAYS": "30"}, "Object Lock"),
        ({"AUDIT_WORKING_HOURS": "19-7"}, "AUDIT_WORKING_HOURS"),
        ({"LOCAL_TIMEZONE": "Mars/Base"}, "LOCAL_TIMEZONE"),
        ({"LOCAL_TIMEZONE": "../etc/passwd"}, "LOCAL_TIMEZONE"),
        ({"SEEN_HEARD_ENV": "production", "SECRET_KEY": "x" * 40}, "AUDIT_SIGNING_KEY is required"),
    ],
)
def test_junk_is_rejected_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_production_refuses_the_demo_secret():
    with pytest.raises(ConfigError, match="demo"):
        settings(SEEN_HEARD_ENV="production")
    with pytest.raises(ConfigError, match="demo"):
        settings(SEEN_HEARD_ENV="production", SECRET_KEY=DEMO_SECRET)
    strong = "x" * 40
    production = settings(
        SEEN_HEARD_ENV="production",
        SECRET_KEY=strong,
        AUDIT_SIGNING_KEY=SIGNING_KEY,
        RATELIMIT_STORAGE_URI=SHARED_LIMITS,
        PUBLIC_BASE_URL=PUBLIC,
    )
    assert production.JWT_SECRET == strong
    # A strong SECRET_KEY does not excuse the demo JWT secret: anyone could mint tokens.
    with pytest.raises(ConfigError, match="demo"):
        settings(
            SEEN_HEARD_ENV="production",
            SECRET_KEY=strong,
            JWT_SECRET=DEMO_SECRET,
            AUDIT_SIGNING_KEY=SIGNING_KEY,
            RATELIMIT_STORAGE_URI=SHARED_LIMITS,
            PUBLIC_BASE_URL=PUBLIC,
        )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RATELIMIT_STORAGE_URI": "redis//localhost"}, "RATELIMIT_STORAGE_URI must be"),
        ({"RATELIMIT_STORAGE_URI": "memcached://localhost"}, "RATELIMIT_STORAGE_URI must be"),
        ({"RATELIMIT_STORAGE_URI": "redis://localhost:port/0"}, "RATELIMIT_STORAGE_URI must be"),
        ({"RATELIMIT_STORAGE_URI": "redis://localhost/five"}, "RATELIMIT_STORAGE_URI must be"),
        ({"RATELIMIT_KEY_PREFIX": "seen heard"}, "RATELIMIT_KEY_PREFIX"),
        ({"RATELIMIT_STORAGE_TIMEOUT_MS": "60000"}, "between 50 and 10000"),
        ({"JWT_REFRESH_GRACE_SECONDS": "3600"}, "between 0 and 120"),
        ({"MAX_IMAGE_PIXELS": "1000"}, "MAX_IMAGE_PIXELS must be between"),
        ({"S3_FAIL_FAST_SECONDS": "-1"}, "S3_FAIL_FAST_SECONDS must be between 0 and 600"),
        ({"S3_FAIL_FAST_SECONDS": "soon"}, "S3_FAIL_FAST_SECONDS must be a whole number"),
        ({"LOGIN_RATE_LIMIT": "lots"}, "LOGIN_RATE_LIMIT must look like"),
        ({"LOGIN_RATE_LIMIT": "0 per minute"}, "LOGIN_RATE_LIMIT must look like"),
        ({"LOGIN_ACCOUNT_RATE_LIMIT": "10 per fortnight"}, "LOGIN_ACCOUNT_RATE_LIMIT"),
        ({"FEEDBACK_RATE_LIMIT": "ten per minute"}, "FEEDBACK_RATE_LIMIT"),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
            },
            "RATELIMIT_STORAGE_URI must be redis:// in production",
        ),
    ],
)
def test_rate_limit_settings_are_checked(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUBLIC_BASE_URL": "visits.council.example"}, "PUBLIC_BASE_URL must be a URL"),
        ({"PUBLIC_BASE_URL": "https://visits.council.example/?a=b"}, "PUBLIC_BASE_URL must be"),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
                "RATELIMIT_STORAGE_URI": SHARED_LIMITS,
            },
            "PUBLIC_BASE_URL is required in production",
        ),
        (
            {
                "SEEN_HEARD_ENV": "production",
                "SECRET_KEY": "x" * 40,
                "AUDIT_SIGNING_KEY": SIGNING_KEY,
                "RATELIMIT_STORAGE_URI": SHARED_LIMITS,
                "PUBLIC_BASE_URL": "http://visits.council.example",
            },
            "PUBLIC_BASE_URL is required in production",
        ),
    ],
)
def test_the_public_address_is_checked(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_rate_limits_default_to_office_friendly_values():
    s = settings(RATELIMIT_STORAGE_URI="rediss://:pw@redis.council.test:6380/2")
    assert s.LOGIN_RATE_LIMIT == "60 per minute;600 per hour"
    assert s.LOGIN_ACCOUNT_RATE_LIMIT == "10 per 15 minutes;100 per day"
    assert s.RATELIMIT_STORAGE_URI == "rediss://:pw@redis.council.test:6380/2"
    assert s.RATELIMIT_KEY_PREFIX == "seen-heard"


def test_symmetric_algorithms_are_refused_for_the_identity_provider():
    with pytest.raises(ConfigError, match="asymmetric"):
        settings(
            JWT_JWKS_URL="https://idp/jwks",
            JWT_OIDC_ISSUER="https://idp",
            JWT_OIDC_AUDIENCE="api",
            JWT_OIDC_ALGORITHMS="HS256",
        )


def test_timescale_overrides_parse():
    s = settings(TIMESCALES='{"child_protection": {"every": "5wd"}}')
    assert s.TIMESCALES == {"child_protection": {"every": "5wd"}}


def test_unknown_override_keys_are_refused():
    with pytest.raises(ConfigError, match="unknown settings"):
        load_settings(env={}, overrides={"NOT_A_SETTING": 1})


NOTES = '"case_note_types": {"statutory": "V", "review": "R", "core_group": "C", "other": "O"}'


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("[]", "must be a JSON object"),
        ('{"flags": {"true": "Y"}}', "flags must be"),
        ('{"colour": "blue"}', "unknown keys"),
        ('{"case_note_types": {"home_visit": "HV"}}', "is not visit_type"),
        ('{"case_note_types": {"statutory/adoption": "HV"}}', "is not visit_type"),
        ('{"case_note_types": {"statutory": "V"}}', "missing \\['review'"),
        ('{"flags": {"true": "Y", "false": "Y"}}', "differently"),
        ("{" + NOTES + ', "tables": {"child_protection": "cp"}}', "no entry for table 'cp'"),
        (
            "{"
            + NOTES
            + ', "tables": {"child_protection": "cp"}, "fields": {"cp": {"colour": "c"}}}',
            "may name only",
        ),
        (
            "{" + NOTES + ', "tables": {"child_protection": "cp"},'
            ' "fields": {"cp": {"date": "d", "seen": "d"}}}',
            "one field for two facts",
        ),
        ('{"case_note_types": {"statutory": ""}}', "1 to 100 characters"),
        ("{not json", "is not JSON"),
    ],
)
def test_a_councils_mapping_file_is_checked_at_start_up(tmp_path, mapping, message):
    path = tmp_path / "mapping.json"
    path.write_text(mapping)
    with pytest.raises(ConfigError, match=message):
        settings(CORE_SYSTEM_MAPPING=str(path))


def test_a_councils_mapping_file_is_used(tmp_path):
    path = tmp_path / "mapping.json"
    path.write_text(
        '{"flags": {"true": true, "false": false}, "tables": {"looked_after": "cla"},'
        ' "fields": {"cla": {"date": "d", "seen": "s"}}, ' + NOTES + "}"
    )
    from datetime import date

    from service.core_system.mapping import load_mapping

    assert settings(CORE_SYSTEM_MAPPING=str(path)).CORE_SYSTEM_MAPPING == str(path)
    mapping = load_mapping(str(path))
    row = mapping.row("looked_after", date(2026, 11, 2), {"seen": True, "seen_alone": False})
    assert row == {"table": "cla", "fields": {"d": "2026-11-02", "s": True}}
    assert mapping.row("child_in_need", date(2026, 11, 2), {"seen": True}) is None
    assert mapping.case_note_type("statutory", "looked_after") == "V"
    assert mapping.case_note_type("review", "looked_after") == "R"


def test_a_bad_setting_stops_the_commands_with_one_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", str(root / "wsgi.py"), "audit", "verify"],
        env={**os.environ, "RETENTION_CHILD_PROTECTION_YEARS": "0"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert "Configuration error: RETENTION_CHILD_PROTECTION_YEARS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["a-file", "a-file/evidence"])
def test_an_evidence_folder_that_is_a_file_stops_the_commands_with_one_line(tmp_path, where):
    """``EVIDENCE_STORE`` naming a file (or a folder inside one): one line naming the setting."""
    import os
    import subprocess
    import sys

    (tmp_path / "a-file").write_text("not a folder")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", str(root / "wsgi.py"), "audit", "verify"],
        env={**os.environ, "EVIDENCE_STORE": f"file://{tmp_path / where}"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: EVIDENCE_STORE: {tmp_path / where} is a file, not a folder "
        "(or is inside one)"
    ]


def test_an_evidence_folder_that_cannot_be_made_is_a_configuration_error(tmp_path, monkeypatch):
    import errno

    from service import create_app

    evidence, mkdir = tmp_path / "evidence", Path.mkdir

    def refused(path: Path, *args: Any, **kwargs: Any) -> None:
        if path == evidence:  # as in a folder we may not write in
            raise PermissionError(errno.EACCES, "Permission denied")
        mkdir(path, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
    with pytest.raises(ConfigError, match=r"^EVIDENCE_STORE: cannot make the folder .*denied$"):
        create_app({"EVIDENCE_STORE": f"file://{evidence}"})


def test_a_bad_setting_stops_gunicorn_instead_of_restarting_its_worker_for_ever(tmp_path):
    import os
    import subprocess
    import sys

    from tests.s3server import free_port

    root = Path(__file__).resolve().parents[2]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run(  # noqa: S603
        [str(gunicorn), "--workers", "1", "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
        env={**os.environ, "RETENTION_CHILD_PROTECTION_YEARS": "0"},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.count("Configuration error: RETENTION_CHILD_PROTECTION_YEARS") == 1
    assert "Traceback" not in result.stderr


def test_s3_timeouts_that_would_outlast_gunicorn_are_refused():
    s3 = {"EVIDENCE_STORE": "s3://evidence/council"}
    # The defaults: 2 x (3 + 1 + 30) + 1 + 4 = 73 s, inside `make run`'s 90 s.
    assert settings(**s3, GUNICORN_TIMEOUT="90").GUNICORN_TIMEOUT == 90
    with pytest.raises(ConfigError, match=r"73 s .* GUNICORN_TIMEOUT \(60 s\)"):
        settings(**s3, GUNICORN_TIMEOUT="60")
    with pytest.raises(ConfigError, match="GUNICORN_TIMEOUT"):
        settings(**s3, GUNICORN_TIMEOUT="90", S3_MAX_ATTEMPTS="3")
    assert settings(GUNICORN_TIMEOUT="10").GUNICORN_TIMEOUT == 10  # a local store never hangs so
    assert settings(**s3).GUNICORN_TIMEOUT is None  # not told: nothing to check against


def test_s3_keys_go_together():
    with pytest.raises(ConfigError, match="S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"):
        settings(S3_ACCESS_KEY_ID="key")
    assert settings(S3_ACCESS_KEY_ID="k", S3_SECRET_ACCESS_KEY="s").S3_SECRET_ACCESS_KEY == "s"
