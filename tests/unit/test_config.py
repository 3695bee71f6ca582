from pathlib import Path

import pytest

from service.config import DEMO_SECRET, ConfigError, database_url, load_settings


def settings(**env: str):
    return load_settings(env=env, instance_path=Path("/tmp/instance"))


def test_defaults_use_embedded_sqlite_and_local_evidence():
    s = settings()
    assert s.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/instance/seen_and_heard.db"
    assert s.EVIDENCE_STORE == "file:///tmp/instance/evidence"
    assert s.JWT_ACCESS_TTL_SECONDS == 900


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
        ({"JWT_OIDC_ROLE_MAP": "csc-worker"}, "claim_value=role"),
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
    assert strong == settings(SEEN_HEARD_ENV="production", SECRET_KEY=strong).JWT_SECRET


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
