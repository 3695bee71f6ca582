"""Alert settings: typed, junk refused with the variable named, secrets never repeated; and the
quiet hours that hold back everything but urgent alerts.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.config import ConfigError, load_settings

SERVICE_ID = "5b4c3d2e-1f00-4a6b-9c8d-7e6f5a4b3c2d"
SECRET = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
NOTIFY_KEY = f"seen_and_heard-{SERVICE_ID}-{SECRET}"
TEMPLATE = "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"


def settings(**env: str):
    return load_settings(env=env, instance_path=Path("/tmp/instance"))


def test_no_channel_by_default_and_the_defaults():
    s = settings()
    assert s.ALERTS_SMTP_URL is None and s.NOTIFY_API_KEY is None
    assert s.ALERTS_DIGEST_HOUR == 7 and s.REVIEW_WAIT_ALERT_WORKING_DAYS == 3
    assert s.ALERTS_MANDATORY == ("urgent_feedback", "delivery_dead")
    assert s.ALERTS_QUIET_HOURS is None


def test_smtp_and_notify_settings_are_read():
    s = settings(
        ALERTS_SMTP_URL="smtp://alerts:p%40ss@mail.council.gov.uk:587",
        ALERTS_FROM="alerts@council.gov.uk",
        ALERTS_URGENT_FEEDBACK_TO="duty@council.gov.uk, ooh@council.gov.uk",
        ALERTS_QUIET_HOURS="20-7",
        ALERTS_MANDATORY="visits_due",
    )
    assert s.ALERTS_URGENT_FEEDBACK_TO == ("duty@council.gov.uk", "ooh@council.gov.uk")
    assert s.ALERTS_QUIET_HOURS == (20, 7)
    # An urgent care leaver is always mandatory, whatever the council lists.
    assert s.ALERTS_MANDATORY == ("urgent_feedback", "visits_due")
    n = settings(NOTIFY_API_KEY=NOTIFY_KEY, NOTIFY_TEMPLATE_ID=TEMPLATE.upper())
    assert n.NOTIFY_TEMPLATE_ID == TEMPLATE and n.NOTIFY_BASE_URL.startswith("https://api.")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERTS_SMTP_URL": "http://mail:25"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://:25"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://mail:port"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://user@mail:587"}, "ALERTS_SMTP_URL"),
        # Found trying it: these were a traceback, or taken apart wrongly, not a clear refusal.
        ({"ALERTS_SMTP_URL": "smtp://u:pw@[::1:1025"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://u:pw@[zz]:25"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://user:pw@mail.example.org:0"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://us er:pw@mail.example.org"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_URL": "smtp://user:pw@mail_ex@mple!.org:587"}, "ALERTS_SMTP_URL"),
        ({"ALERTS_SMTP_CA_FILE": "/etc/hostname"}, "ALERTS_SMTP_CA_FILE"),
        ({"ALERTS_SMTP_URL": "smtp://127.0.0.1:1025"}, "ALERTS_FROM"),
        ({"ALERTS_FROM": "not an address"}, "ALERTS_FROM"),
        ({"ALERTS_URGENT_FEEDBACK_TO": "duty@council.gov.uk,bob"}, "ALERTS_URGENT_FEEDBACK_TO"),
        ({"NOTIFY_API_KEY": "short"}, "NOTIFY_API_KEY"),
        ({"NOTIFY_API_KEY": NOTIFY_KEY}, "NOTIFY_TEMPLATE_ID"),
        ({"NOTIFY_TEMPLATE_ID": "template-1"}, "NOTIFY_TEMPLATE_ID"),
        ({"ALERTS_DIGEST_HOUR": "25"}, "ALERTS_DIGEST_HOUR"),
        ({"ALERTS_DIGEST_HOUR": "seven"}, "ALERTS_DIGEST_HOUR"),
        ({"REVIEW_WAIT_ALERT_WORKING_DAYS": "0"}, "REVIEW_WAIT_ALERT_WORKING_DAYS"),
        ({"ALERTS_MANDATORY": "everything"}, "ALERTS_MANDATORY"),
        ({"ALERTS_QUIET_HOURS": "7-7"}, "ALERTS_QUIET_HOURS"),
        ({"ALERTS_QUIET_HOURS": "evenings"}, "ALERTS_QUIET_HOURS"),
        ({"ALERTS_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "ALERTS_SMTP_CA_FILE"),
        (
            {
                "ALERTS_SMTP_URL": "smtp://127.0.0.1:1025",
                "ALERTS_FROM": "a@council.gov.uk",
                "NOTIFY_API_KEY": NOTIFY_KEY,
                "NOTIFY_TEMPLATE_ID": TEMPLATE,
            },
            "not both",
        ),
    ],
)
def test_junk_is_refused_naming_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_a_refused_secret_is_never_repeated():
    for env in (
        {"ALERTS_SMTP_URL": "smtp://alerts:Hunter2-secret@mail:notaport"},
        {"NOTIFY_API_KEY": "x" * 80 + "Hunter2-secret"},
    ):
        with pytest.raises(ConfigError) as refused:
            settings(**env)
        assert "Hunter2-secret" not in str(refused.value)


@pytest.mark.parametrize(
    ("utc", "kind", "sent"),
    [
        # 22:30 in London in winter is inside 20-7: a digest waits until 07:00.
        ("2026-12-07T22:30:00", "visits_due", "2026-12-08T07:00:00"),
        ("2026-12-08T05:00:00", "review_waiting", "2026-12-08T07:00:00"),
        ("2026-12-08T12:00:00", "visits_due", "2026-12-08T12:00:00"),
        # Urgent alerts ignore the quiet hours.
        ("2026-12-07T22:30:00", "urgent_feedback", "2026-12-07T22:30:00"),
    ],
)
def test_quiet_hours_hold_back_all_but_urgent_alerts(app, monkeypatch, utc, kind, sent):
    from service.alerts.operations import send_at

    monkeypatch.setitem(app.config, "ALERTS_QUIET_HOURS", (20, 7))
    with app.app_context():
        at = send_at(kind, datetime.fromisoformat(utc).replace(tzinfo=UTC))
    assert at.astimezone(UTC) == datetime.fromisoformat(sent).replace(tzinfo=UTC)
