"""The care-leaver form: WTForms for parsing and CSRF, our own checks for plain-language errors."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from service.columns import is_storable, whole_number
from service.feedback.models import CHOICES, SCALES

MAX_TEXT = 2000
MAX_SHORT = 200
# Not answers: the CSRF token has its own error, and a filled honeypot is a bot, thanked.
NOT_ANSWERS = frozenset({"csrf_token", "website"})


class FeedbackForm(FlaskForm):
    """Fields as the page posts them; ``website`` is a honeypot no person sees or fills.

    The radio groups are plain strings here: the template renders GOV.UK radios, and
    :func:`check` validates the values and words the errors.
    """

    life_satisfaction = StringField()
    worthwhile = StringField()
    happy_yesterday = StringField()
    anxious_yesterday = StringField()
    settled = StringField()
    trusted_person = StringField()
    adviser_support = StringField()
    coping_with_money = StringField()
    safe_at_home = StringField()
    anything_else = TextAreaField()
    wants_contact = BooleanField()
    contact_name = StringField()
    contact_detail = StringField()
    urgent = BooleanField()
    website = StringField()


def check(form: FeedbackForm, words: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Return ``(errors by field, answers)``; errors are in the page's language, in page order.

    "I need help now" ticked makes every other question optional: whatever the care leaver
    wrote, and any call-back details they gave, are kept however much else is blank.
    """
    urgent = bool(form.urgent.data)
    errors: dict[str, str] = {}
    if form.csrf_token.errors:
        errors["csrf_token"] = words["expired_form"]
    answers: dict[str, Any] = {"urgent": urgent, "wants_contact": bool(form.wants_contact.data)}
    for name in SCALES:
        answers[name] = _scale(form[name].data)
        if answers[name] is None and not urgent:
            errors[name] = words["choose_number"]
    for name, options in CHOICES.items():
        raw = form[name].data
        answers[name] = raw if raw in options else None
    text = (form.anything_else.data or "").strip()
    if len(text) > MAX_TEXT:
        errors["anything_else"] = words["too_long"]
    answers["anything_else"] = text or None
    errors.update(_contact(form, answers, words))
    errors.update(_unstorable(form, words))
    return _in_page_order(form, errors), answers


def _scale(raw: str | None) -> int | None:
    """A 0-10 answer, or None when there is none (or it is not a number from 0 to 10)."""
    return whole_number(raw, 10)


def _contact(form: FeedbackForm, answers: dict[str, Any], words: dict[str, str]) -> dict[str, str]:
    """Fill in the call-back answers; return the errors.

    A call-back asked for needs a name and a way to reach them, unless it is urgent: then
    whatever was given is kept (even without the box ticked) and nothing is refused.
    """
    name = (form.contact_name.data or "").strip()
    detail = (form.contact_detail.data or "").strip()
    errors: dict[str, str] = {}
    if answers["wants_contact"] and not answers["urgent"]:
        if not name or len(name) > MAX_SHORT:
            errors["contact_name"] = words["need_name"]
        if not detail or len(detail) > MAX_SHORT:
            errors["contact_detail"] = words["need_contact"]
    keep = answers["wants_contact"] or answers["urgent"]
    answers["contact_name"] = (name[:MAX_SHORT] or None) if keep else None
    answers["contact_detail"] = (detail[:MAX_SHORT] or None) if keep else None
    return errors


def _unstorable(form: FeedbackForm, words: dict[str, str]) -> dict[str, str]:
    """An error for each answer holding NUL (or a lone surrogate): it could never be saved."""
    return {
        field.name: words["unstorable"]
        for field in form
        if field.name not in NOT_ANSWERS
        and isinstance(field.data, str)
        and not is_storable(field.data)
    }


def _in_page_order(form: FeedbackForm, errors: dict[str, str]) -> dict[str, str]:
    order = {field.name: index for index, field in enumerate(form)}
    return dict(sorted(errors.items(), key=lambda item: order.get(item[0], -1)))
