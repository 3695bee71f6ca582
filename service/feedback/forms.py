"""The care-leaver form: WTForms for parsing and CSRF, our own checks for plain-language errors."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from api_schemas.common import is_storable
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
    """Return ``(errors by field, answers)``; errors are in the page's language, in page order."""
    errors: dict[str, str] = {}
    if form.csrf_token.errors:
        errors["csrf_token"] = words["expired_form"]
    answers: dict[str, Any] = {}
    for name in SCALES:
        raw = (form[name].data or "").strip()
        if raw.isdigit() and 0 <= int(raw) <= 10:
            answers[name] = int(raw)
        else:
            errors[name] = words["choose_number"]
    for name, options in CHOICES.items():
        raw = form[name].data
        answers[name] = raw if raw in options else None
    text = (form.anything_else.data or "").strip()
    if len(text) > MAX_TEXT:
        errors["anything_else"] = words["too_long"]
    answers["anything_else"] = text or None
    answers["wants_contact"] = bool(form.wants_contact.data)
    answers["urgent"] = bool(form.urgent.data)
    name, detail = (form.contact_name.data or "").strip(), (form.contact_detail.data or "").strip()
    if answers["wants_contact"]:
        if not name or len(name) > MAX_SHORT:
            errors["contact_name"] = words["need_name"]
        if not detail or len(detail) > MAX_SHORT:
            errors["contact_detail"] = words["need_contact"]
    answers["contact_name"] = name[:MAX_SHORT] if answers["wants_contact"] else None
    answers["contact_detail"] = detail[:MAX_SHORT] if answers["wants_contact"] else None
    errors.update(_unstorable(form, words))
    return _in_page_order(form, errors), answers


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
