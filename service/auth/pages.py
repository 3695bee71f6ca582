"""Signing in and out of the desk pages, and the start page that says where to go."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from service.auth import web_sessions
from service.auth.sign_in import check_password
from service.columns import is_storable
from service.errors import Unauthorized
from service.extensions import SIGN_IN_SCOPE, limiter, login_rate_limit
from service.pages import PageBlueprint, render, safe_next

blp = PageBlueprint("auth_pages", __name__)

MAX_FIELD = 200
ENDED = {
    "timed_out": "You were signed out because you had not done anything for a while.",
    "revoked": "Your session was ended. Sign in again.",
}


@blp.route("/sign-in", methods=["GET", "POST"])
@limiter.shared_limit(login_rate_limit, scope=SIGN_IN_SCOPE, methods=["POST"])
def sign_in() -> Any:
    """The sign-in form; after signing in, back to the page asked for (on this site only)."""
    target = safe_next(request.values.get("next"))
    errors: dict[str, str] = {}
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        if not username.strip():
            errors["username"] = "Enter your username"
        if not password:
            errors["password"] = "Enter your password"  # noqa: S105 - a message
        fields_ok = all(
            len(value) <= MAX_FIELD and is_storable(value) for value in (username, password)
        )
        if not errors:
            try:
                if not fields_ok:
                    raise Unauthorized("auth.invalid_credentials", "Wrong username or password.")
                user = check_password(username.strip(), password, via="desk")
            except Unauthorized:
                errors["username"] = "Enter a correct username and password"
            else:
                web_sessions.begin(user, via="desk")
                return redirect(target)
    notice = ENDED.get(request.args.get("ended", ""))
    return render(
        "desk/sign_in.html",
        status=400 if errors else 200,
        errors=errors,
        username=username[:MAX_FIELD] if is_storable(username) else "",
        next=target,
        notice=notice,
    )


@blp.post("/sign-out")
def sign_out() -> Any:
    """Sign out: the session ends on the server too, so the cookie is worthless afterwards."""
    web_sessions.end()
    flash("You have signed out.", "success")
    return redirect(url_for("auth_pages.sign_in"))


@blp.get("/")
@blp.signin_required()
def home() -> Any:
    """The start page: the areas the signed-in user's role can use."""
    return render("desk/home.html", user=g.user)
