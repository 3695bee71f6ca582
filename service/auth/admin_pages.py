"""Desk pages for admins: user accounts (create, disable, re-enable, reset a password, change
role and teams).

Every change goes through :mod:`service.auth.operations`, the same functions the command line
uses, which keep the rules (the password rule, the last admin, no disabling oneself) and audit
the change. An admin sees no child records here: accounts, roles and teams only.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from service.auth import operations
from service.auth.models import ROLES, Team, User
from service.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from service.errors import Conflict, NotFound, ValidationFailed
from service.extensions import db
from service.pages import PageBlueprint, render

blp = PageBlueprint("admin_desk", __name__)

NAMES = {"social_worker": "Social worker"}
ROLE_LABELS = {role: NAMES.get(role, role.capitalize()) for role in ROLES}
ROLE_HINTS = {
    "social_worker": "Records visits on a tablet; sees the cases allocated to them.",
    "supervisor": "Reviews visits; sees the cases of their teams.",
    "manager": "Oversight of the whole service.",
    "admin": "Accounts, devices and deliveries; sees no child records.",
}
PASSWORD_HINT = (
    f"At least {MIN_PASSWORD_LENGTH} characters (at most {MAX_PASSWORD_LENGTH}), without the "
    "username, and not a common password. Tell the person in person or by phone, never by email."
)


def _messages(refused: ValidationFailed) -> dict[str, str]:
    """A field's problems as one sentence for the page, the first letter capitalised."""
    messages = {}
    for field, problems in (refused.errors or {}).items():
        sentence = "; ".join(problems)
        messages[field] = sentence[:1].upper() + sentence[1:]
    return messages


def _account(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found", "No such user.")
    return user


def _teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.display_name, Team.name)))


def _form_context(**context: Any) -> dict[str, Any]:
    return {
        "roles": ROLE_LABELS,
        "role_hints": ROLE_HINTS,
        "teams": _teams(),
        "password_hint": PASSWORD_HINT,
        **context,
    }


@blp.get("/admin/users")
@blp.in_navigation("Users", "admin")
@blp.signin_required("admin")
def users() -> Any:
    """Every account: username, name, role, teams, whether active, and how it signs in."""
    accounts = db.session.scalars(
        select(User).options(selectinload(User.teams)).order_by(User.active.desc(), User.username)
    ).all()
    return render("desk/admin/users.html", accounts=accounts, roles=ROLE_LABELS)


@blp.route("/admin/users/new", methods=["GET", "POST"])
@blp.signin_required("admin")
def new_user() -> Any:
    """Create a local account with a role, teams and an initial password meeting the rule."""
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            created = operations.create_user(
                g.user,
                username=form.get("username", ""),
                display_name=form.get("display_name", ""),
                role=form.get("role", ""),
                team_names=form.getlist("teams"),
                password=form.get("password", ""),
            )
        except ValidationFailed as refused:
            errors = _messages(refused)
        else:
            flash(f"{created.display_name} ({created.username}) can now sign in.", "success")
            return redirect(url_for("admin_desk.user_account", user_id=created.id))
    return render(
        "desk/admin/new_user.html",
        status=400 if errors else 200,
        **_form_context(
            errors=errors,
            username=form.get("username", ""),
            display_name=form.get("display_name", ""),
            role=form.get("role", ""),
            chosen=set(form.getlist("teams")),
        ),
    )


@blp.get("/admin/users/<uuid:user_id>")
@blp.signin_required("admin")
def user_account(user_id: uuid.UUID) -> Any:
    """One account: its details, with links to change them."""
    return render("desk/admin/user.html", account=_account(user_id), roles=ROLE_LABELS)


@blp.route("/admin/users/<uuid:user_id>/role", methods=["GET", "POST"])
@blp.signin_required("admin")
def change_role(user_id: uuid.UUID) -> Any:
    """Change an account's role and teams; the last active admin keeps the admin role."""
    account = _account(user_id)
    errors: dict[str, str] = {}
    status = 200
    role = account.role
    chosen = {team.name for team in account.teams}
    if request.method == "POST":
        role = request.form.get("role", "")
        chosen = set(request.form.getlist("teams"))
        try:
            operations.change_role_and_teams(g.user, account.id, role, chosen)
        except ValidationFailed as refused:
            errors, status = _messages(refused), 400
        except Conflict as refused:
            errors, status = {"role": refused.detail}, 409
        else:
            flash(f"{account.display_name}'s role and teams are saved.", "success")
            if account.id == g.user.id and role != "admin":  # no longer theirs to see
                return redirect(url_for("auth_pages.home"))
            return redirect(url_for("admin_desk.user_account", user_id=account.id))
    return render(
        "desk/admin/role.html",
        status=status,
        **_form_context(account=account, errors=errors, role=role, chosen=chosen),
    )


@blp.route("/admin/users/<uuid:user_id>/password", methods=["GET", "POST"])
@blp.signin_required("admin")
def reset_password(user_id: uuid.UUID) -> Any:
    """Set a new password for a local account; every session of the account ends."""
    account = _account(user_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            operations.reset_password(g.user, account.id, request.form.get("password", ""))
        except ValidationFailed as refused:
            errors = _messages(refused)
        else:
            flash(
                f"{account.display_name}'s password is changed and they are signed out everywhere.",
                "success",
            )
            return redirect(url_for("admin_desk.user_account", user_id=account.id))
    return render(
        "desk/admin/password.html",
        status=400 if errors else 200,
        **_form_context(account=account, errors=errors),
    )


@blp.route("/admin/users/<uuid:user_id>/disable", methods=["GET", "POST"])
@blp.signin_required("admin")
def disable(user_id: uuid.UUID) -> Any:
    """Confirm, then disable an account: it is signed out of the desk and every tablet at once."""
    account = _account(user_id)
    problem = None
    if request.method == "POST":
        try:
            operations.disable_user(g.user, account.id)
        except Conflict as refused:
            problem = refused.detail
        else:
            flash(f"{account.display_name} is disabled and signed out everywhere.", "success")
            return redirect(url_for("admin_desk.user_account", user_id=account.id))
    return render(
        "desk/admin/disable.html",
        status=409 if problem else 200,
        account=account,
        problem=problem,
        errors={"confirm": problem} if problem else {},
    )


@blp.post("/admin/users/<uuid:user_id>/enable")
@blp.signin_required("admin")
def enable(user_id: uuid.UUID) -> Response:
    """Re-enable a disabled account; the person signs in again."""
    account = operations.enable_user(g.user, user_id)
    flash(f"{account.display_name} can sign in again.", "success")
    return redirect(url_for("admin_desk.user_account", user_id=account.id))
