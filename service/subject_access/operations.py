"""The subject access export as a use case: who may make it, and what it holds.

HTTP-free: the route streams what :func:`prepare_export` returns, and so does the CLI.
"""

from __future__ import annotations

import uuid

from service.audit.events import Subject
from service.auth.models import User
from service.cases.operations import get_child
from service.errors import Forbidden
from service.evidence.operations import evidence_store
from service.subject_access import archive
from service.subject_access.gather import gather

EXPORTERS = ("manager",)


def export_subjects(child_id: uuid.UUID) -> list[Subject]:
    """What the trail says an export was about: the child."""
    return [Subject("export", child_id, child_id)]


def prepare_export(
    user: User, child_id: uuid.UUID, request_id: str | None = None
) -> archive.Export:
    """The child's export, ready to stream, if ``user`` may make it.

    A role other than manager is refused (403); a child out of the user's scope is answered
    exactly as a missing one (404), and the refusal is recorded by the policy layer. Each
    evidence file is looked up in the store first: one missing is listed as missing; any other
    store failure raises :class:`storage.StorageError` before a byte is sent.
    """
    if user.role not in EXPORTERS:
        raise Forbidden("auth.role_forbidden", "Only a manager can export a child's record.")
    child = get_child(user, child_id)
    return archive.prepare(gather(child), evidence_store(), request_id=request_id)
