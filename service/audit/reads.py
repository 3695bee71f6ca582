"""The read hook: one decorator per view says what the view shows, and the trail hears of it.

``@audited(Action.READ)`` records, after the view returns, one event per child for every record
in what it returns; each feature says what its records are about by registering with
:func:`describe` (a registry, so this package imports no feature). A view whose output is not a
record (a file, a summary) passes ``subjects=``, a function of the result and the view's
arguments. ``@audit_exempt("why")`` marks a view that shows no child data, or writes what
the trail hears elsewhere, so a test can require that every API view is one or the other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from functools import singledispatch
from typing import Any, TypeVar

from flask import Response

from service.audit.events import Action, Subject
from service.audit.trail import record

F = TypeVar("F", bound=Callable[..., Any])
SubjectsOf = Callable[..., Iterable[Subject]]
MARK = "__audit__"


@singledispatch
def describe(thing: object) -> list[Subject]:
    """The subjects a returned object is about; features register their models."""
    return []


def _subjects_in(result: Any) -> list[Subject]:
    if isinstance(result, tuple):  # (body, status) or (body, status, headers)
        result = result[0]
    if isinstance(result, Response | str | bytes) or result is None:
        return []
    if isinstance(result, Mapping):
        return [subject for value in result.values() for subject in _subjects_in(value)]
    if isinstance(result, list | set | frozenset):
        return [subject for item in result for subject in _subjects_in(item)]
    return describe(result)


def audited(action: Action, subjects: SubjectsOf | None = None, **details: Any) -> Callable[[F], F]:
    """Record ``action`` on what the view returns (or on ``subjects(result, **view_kwargs)``)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = view(*args, **kwargs)
            shown = list(subjects(result, **kwargs)) if subjects else _subjects_in(result)
            if shown:
                record(action, shown, **details)
            return result

        setattr(wrapper, MARK, str(action))
        return wrapper  # type: ignore[return-value]

    return decorator


def audit_exempt(reason: str) -> Callable[[F], F]:
    """Mark a view that shows no child data (``reason`` says why), for the completeness test."""

    def decorator(view: F) -> F:
        setattr(view, MARK, f"not audited: {reason}")
        return view

    return decorator
