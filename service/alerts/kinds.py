"""The kinds of alert, and what each tells a person: plain Python, no Flask, no database.

An alert's words name the kind of thing waiting and how many, never a child, their words or
anyone's contact details; the link takes a signed-in person to where they can see it.
"""

from __future__ import annotations

from dataclasses import dataclass

URGENT_FEEDBACK = "urgent_feedback"
VISITS_DUE = "visits_due"
REVIEW_WAITING = "review_waiting"
DECISION_OVERDUE = "decision_overdue"
DELIVERY_DEAD = "delivery_dead"
KINDS = (URGENT_FEEDBACK, VISITS_DUE, REVIEW_WAITING, DECISION_OVERDUE, DELIVERY_DEAD)
# Sent at once, whatever the hour (quiet hours do not apply), and never switched off.
URGENT_KINDS = frozenset({URGENT_FEEDBACK})
MANDATORY_DEFAULT = (URGENT_FEEDBACK, DELIVERY_DEAD)


@dataclass(frozen=True)
class Wording:
    """The subject and first line of an alert's message; ``{count}`` is how many."""

    subject: str
    one: str
    many: str


WORDING = {
    URGENT_FEEDBACK: Wording(
        "Urgent: a care leaver has asked for help now",
        "A care leaver has asked for help now through the feedback form.",
        "{count} care leavers have asked for help now through the feedback form.",
    ),
    VISITS_DUE: Wording(
        "Statutory visits due or overdue",
        "A child's statutory visit is due within 2 working days or is overdue.",
        "{count} children's statutory visits are due within 2 working days or are overdue.",
    ),
    REVIEW_WAITING: Wording(
        "Visit records waiting for review",
        "A visit record has been waiting for review longer than it should.",
        "{count} visit records have been waiting for review longer than they should.",
    ),
    DECISION_OVERDUE: Wording(
        "Management decisions past their date",
        "A management decision's date has passed and the child has not been seen since.",
        "{count} management decisions' dates have passed without the child being seen since.",
    ),
    DELIVERY_DEAD: Wording(
        "A delivery to the core case system has failed for good",
        "A delivery to the core case system failed for good and needs an admin.",
        "{count} deliveries to the core case system failed for good and need an admin.",
    ),
}


def subject(kind: str) -> str:
    """The message's subject line for ``kind``."""
    return f"Seen and Heard: {WORDING[kind].subject}"


def body(kind: str, count: int, link: str) -> str:
    """The message's plain-text body: what is waiting, how many, and the link to sign in at."""
    wording = WORDING[kind]
    first = wording.one if count == 1 else wording.many.format(count=count)
    return (
        f"{first}\n\n"
        f"Sign in to see it: {link}\n\n"
        "This message names no one on purpose. Do not reply to it; it is sent automatically "
        "by Seen and Heard.\n"
    )
