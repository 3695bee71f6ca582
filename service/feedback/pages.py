"""The care-leaver pages: the form, "I need help now", thanks. No login, no JavaScript needed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from service.audit.events import Action, Subject
from service.audit.trail import record
from service.extensions import limiter
from service.feedback import operations
from service.feedback.forms import FeedbackForm, check
from service.feedback.models import CHOICES, SCALES
from service.feedback.text import LANGUAGES, words
from service.pages import SECURITY_HEADERS
from service.paging import carried_query

blp = Blueprint("feedback_pages", __name__, template_folder="../templates")


def language() -> str:
    """The page language from ``?lang=`` (English unless Welsh is asked for).

    Only the query: the form posts to a URL that carries it, and the error page for a body
    too large to read (413) must not read the body to find its language.
    """
    chosen = request.args.get("lang", "en")
    return chosen if chosen in LANGUAGES else "en"


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a page with the language, its words and the language switch link."""
    lang = language()
    other = "cy" if lang == "en" else "en"
    args: dict[str, Any] = carried_query("lang")
    return (
        render_template(
            template,
            lang=lang,
            t=words(lang),
            switch_url=url_for(request.endpoint or "feedback_pages.form", lang=other, **args),
            **context,
        ),
        status,
    )


@blp.after_request
def security_headers(response: Response) -> Response:
    """Pages for the public: no framing, no sniffing, nothing cached, scripts from us only."""
    response.headers.update(SECURITY_HEADERS)
    return response


def _form_limit() -> str:
    return str(current_app.config["FEEDBACK_RATE_LIMIT"])


@blp.route("/feedback", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"])
def form() -> Any:
    """The form; with ``?invite=`` the answers join the care leaver's record."""
    token = request.args.get("invite")
    invite = None
    if token:
        try:
            invite = operations.open_invite(token)
        except operations.InviteProblem as problem:
            return page(
                "feedback/link_problem.html",
                410 if problem.reason == "expired" else 400,
                reason=problem.reason,
            )
    feedback_form = FeedbackForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        feedback_form.validate()
        errors, answers = check(feedback_form, words(language()))
        if feedback_form.website.data:
            # The honeypot was filled in: a bot. Thank it and keep nothing.
            return redirect(url_for("feedback_pages.thanks", lang=language()))
        if not errors:
            saved = operations.save_feedback(answers, language(), invite)
            # No signed-in actor: the care leaver. Linked answers join a child's record.
            record(Action.CREATE, Subject("feedback", saved.id, saved.child_id), actor=None)
            if answers["urgent"]:
                return redirect(url_for("feedback_pages.help_now", lang=language(), sent=1))
            return redirect(url_for("feedback_pages.thanks", lang=language()))
    return page(
        "feedback/form.html",
        400 if errors else 200,
        form=feedback_form,
        errors=errors,
        scales=SCALES,
        choices=CHOICES,
        invite_token=token,
    )


@blp.get("/feedback/help")
def help_now() -> Any:
    """Who to contact straight away; reached without sending anything, or after an urgent form."""
    return page("feedback/help.html", sent=request.args.get("sent") == "1")


@blp.get("/feedback/thanks")
def thanks() -> Any:
    """Confirmation after sending."""
    return page("feedback/thanks.html")


def error_page(status: int, headers: Mapping[str, str]) -> Response:
    """An error on a public page, in the page's language, with the help contacts; never a
    stack trace.
    """
    t = words(language())
    # Whatever went wrong, a 5xx on sending kept nothing: say so, beside who to contact now.
    not_saved = t["not_saved_body"] if status >= 500 and request.method == "POST" else ""
    if status == 429:
        heading, body = t["too_many_title"], t["too_many_body"]
    elif status == 404:
        heading, body = t["not_found_title"], ""
    elif status == 503:
        heading, body = t["unavailable_title"], not_saved
    else:
        heading, body = t["error_page_title"], not_saved
    html, code = page("feedback/error.html", status, heading=heading, body=body)
    response = Response(html, status=code, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.headers.update(headers)
    return response
