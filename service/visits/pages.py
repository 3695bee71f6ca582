"""The visit page: a visit as its reviewer reads it, with the decision form when it awaits one."""

from __future__ import annotations

import uuid

from flask import Response, g

from service.pages import PageBlueprint, render
from service.reviews.reading import REVIEWERS, read_visit
from service.visits import labels

blp = PageBlueprint("visits_pages", __name__)


@blp.get("/visits/<uuid:visit_id>")
@blp.signin_required(*REVIEWERS)
def visit(visit_id: uuid.UUID) -> Response:
    """Every child (seen, seen alone, why not, their own words and views), the worker's
    observations, analysis and next actions, the evidence, the history with what changed, the
    delivery to the core system, the decisions, and the decision form when it awaits review.
    """
    reading = read_visit(g.user, visit_id)
    return render(
        "desk/visits/visit.html",
        shows=reading.shows,
        reading=reading,
        form={"etag": reading.etag},
        errors={},
        labels=labels,
    )
