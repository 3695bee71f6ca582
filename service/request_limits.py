"""Absurd nesting in a JSON body is refused before any parser sees it.

Python's JSON parser recurses once per array or object, so a body of a thousand ``[`` is a
``RecursionError`` deep inside webargs. The bodies this API takes nest a handful of levels (a
visit's children, a child's voice, its scale); :data:`MAX_JSON_DEPTH` leaves room to spare.
"""

from __future__ import annotations

import re
from itertools import accumulate

from flask import Flask, Response, request

from service.errors import problem

MAX_JSON_DEPTH = 32
# A whole JSON string, escapes included; unterminated, it runs to the end of the body.
# Possessive, so even a long string is one linear pass with no backtracking.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# With every other byte deleted, an opening bracket becomes 1 and a closing one -1 (as a signed
# byte), so the running sum of what is left is the nesting depth at each bracket.
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEPS = bytes.maketrans(b"[{]}", bytes([1, 1, 255, 255]))


def is_json(mimetype: str) -> bool:
    """Whether a body of this type is parsed as JSON (``application/json`` or ``+json``)."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def nested_deeper_than(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays and objects more than ``limit`` deep (brackets inside
    strings do not count).

    Three linear passes in C: strings dropped, everything but brackets dropped, a running sum.
    No object per token; at most one transient copy, never larger than the body, which the size
    limit has already bounded. A body with no more than ``limit`` brackets in all is answered
    from two counts. Whether the body is JSON at all is the parser's business, not this.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    steps = _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0) > limit


def refuse_deep_json() -> Response | None:
    """Answer 400 ``request.too_deep`` when a JSON body nests past :data:`MAX_JSON_DEPTH`.

    The body is read under the request's size limit (a 413 as ever when over it) and kept, so
    the parser reads the same bytes without a second trip to the client.
    """
    if not is_json(request.mimetype) or not nested_deeper_than(request.get_data(cache=True)):
        return None
    return problem(
        400,
        "request.too_deep",
        "Request nested too deeply",
        f"JSON bodies may nest arrays and objects at most {MAX_JSON_DEPTH} levels deep.",
    )


def init_app(app: Flask) -> None:
    """Check every JSON body's nesting; call once the blueprints are registered.

    The check runs after a blueprint's own before-request hooks, because one of them may set
    the size limit for its endpoints (sync takes larger batches); reading the body earlier would
    hold it to the app-wide limit. Requests outside those blueprints are checked app-wide.
    """
    covered = frozenset(app.blueprints)
    for name in covered:
        app.before_request_funcs.setdefault(name, []).append(refuse_deep_json)

    @app.before_request
    def refuse_deep_json_elsewhere() -> Response | None:
        """The same check, for a request no blueprint above answers."""
        if covered.intersection(request.blueprints):
            return None
        return refuse_deep_json()
