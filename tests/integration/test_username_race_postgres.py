"""Usernames stay unique in any mix of capitals when two admins create them at the same instant.

``create_user`` checks for the name in any capitals first; two admins both past that check
(held together here, after it, at the password's hashing) used to create ``Shared.Name`` and
``shared.name`` both. The unique index on ``lower(username)`` (migration 0016) makes the database
refuse the second: that admin sees the same form error as the check gives, and one account is
made. On PostgreSQL, sign-in's lookup by ``lower(username)`` reads that index.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from service.audit.models import AuditEvent
from service.auth import operations
from service.auth.models import User
from service.auth.sign_in import account_named
from service.extensions import db
from tests.desk import desk_post, desk_sign_in
from tests.factories import make_user, standalone_app

pytestmark = pytest.mark.postgres

NEW_USER = "/desk/admin/users/new"
PASSWORD = "plum tree by the canal"


def test_two_admins_creating_one_name_in_other_capitals_make_one_account(
    postgres_database, tmp_path, monkeypatch
):
    app, _, _, _ = standalone_app(
        {"SQLALCHEMY_DATABASE_URI": postgres_database, "EVIDENCE_STORE": f"file://{tmp_path}"}
    )
    with app.app_context():
        admins = [make_user("admin").username, make_user("admin").username]
        db.session.commit()
    desks = [app.test_client(), app.test_client()]
    for desk, admin in zip(desks, admins, strict=True):
        desk_sign_in(desk, admin)

    both_checked = threading.Barrier(2, timeout=20)
    real_hash = operations.hash_password

    def hash_once_both_have_checked(password: str) -> str:
        both_checked.wait()
        return real_hash(password)

    monkeypatch.setattr(operations, "hash_password", hash_once_both_have_checked)
    replies: dict[str, Any] = {}

    def create(desk: Any, username: str) -> None:
        form = {"username": username, "role": "social_worker", "password": PASSWORD}
        replies[username] = desk_post(desk, NEW_USER, form, NEW_USER)

    threads = [
        threading.Thread(target=create, args=(desk, username))
        for desk, username in zip(desks, ("Shared.Name", "shared.name"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(reply.status_code for reply in replies.values())
    assert statuses == [302, 400]
    [(refused_name, refused)] = [(n, r) for n, r in replies.items() if r.status_code == 400]
    assert f"User &#39;{refused_name}&#39; already exists (in some mix of capitals)" in (
        refused.get_data(as_text=True)
    )
    with app.app_context():
        made = db.session.scalars(
            select(User.username).where(func.lower(User.username) == "shared.name")
        ).all()
        assert len(made) == 1 and made[0] != refused_name
        creates = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user_create")
        )
        assert creates == 1
        db.session.remove()
        db.engine.dispose()


def test_sign_in_finds_the_account_through_the_lower_case_index(postgres_database, tmp_path):
    """EXPLAIN of sign-in's own lookup (``account_named``) among 5,000 accounts: an index scan
    of ``uq_users_username_lower``, not a scan of the table.
    """
    app, _, _, _ = standalone_app(
        {"SQLALCHEMY_DATABASE_URI": postgres_database, "EVIDENCE_STORE": f"file://{tmp_path}"}
    )
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, active, created_at) "
                "SELECT gen_random_uuid(), 'Worker.' || n, 'Worker ' || n, 'social_worker', "
                "true, now() FROM generate_series(1, 5000) AS n"
            )
        )
        db.session.execute(text("ANALYZE users"))
        lookups: list[tuple[str, Any]] = []

        def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: Any) -> None:
            if "FROM users" in sql:
                lookups.append((sql, params))

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            found = account_named(" WORKER.4321 ")
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        assert found is not None and found.username == "Worker.4321"
        [(sql, params)] = lookups
        explain = db.session.connection().exec_driver_sql(f"EXPLAIN {sql}", params)
        plan = "\n".join(explain.scalars())
        db.session.rollback()
        db.engine.dispose()
    assert "uq_users_username_lower" in plan, plan
    assert "Seq Scan" not in plan, plan
