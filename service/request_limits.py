"""Absurd JSON bodies are refused before any parser sees them: deep nesting, endless numbers,
and bodies sent chunked past the size limit.

Python's JSON parser recurses once per array or object, so a body of a thousand ``[`` is a
``RecursionError`` deep inside webargs. The bodies this API takes nest a handful of levels (a
visit's children, a child's voice, its scale); :data:`MAX_JSON_DEPTH` leaves room to spare.
And ``int()`` refuses more than 4,300 digits with a ``ValueError`` the parser lets through.
"""

from __future__ import annotations

import re
import typing as t
from itertools import accumulate

import flask
from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from service.errors import problem

MAX_JSON_DEPTH = 32
# Far beyond any number this API takes; well under the 4,300 digits int() reads by default.
MAX_NUMBER_DIGITS = 1000
# A whole JSON string, escapes included; unterminated, it runs to the end of the body.
# Possessive, so even a long string is one linear pass with no backtracking.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# With every other byte deleted, an opening bracket becomes 1 and a closing one -1 (as a signed
# byte), so the running sum of what is left is the nesting depth at each bracket.
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEPS = bytes.maketrans(b"[{]}", bytes([1, 1, 255, 255]))
_OVERLONG_NUMBER = re.compile(b"[0-9]{%d}" % (MAX_NUMBER_DIGITS + 1))


class _ChunkedBodyLimit(LimitedStream):
    """The body of a request with no ``Content-Length`` (``Transfer-Encoding: chunked``), read
    up to ``max_content_length``: reading it whole past the limit is a 413.

    Werkzeug's own stream for this case stops at the limit and returns what it read, so a
    JSON body one byte over came out truncated: a 400 ``request.malformed_json``, not the 413
    a body with a ``Content-Length`` gets. (Reading on in pieces already raised the 413.)
    """

    def __init__(self, stream: t.IO[bytes], limit: int) -> None:
        super().__init__(stream, limit, is_max=True)
        self._source = stream

    def readall(self) -> bytes:
        """Read to the end of the body; one byte more than the limit is a 413."""
        data = super().readall()
        if self.is_exhausted and self._source.read(1):
            raise RequestEntityTooLarge()
        return data


class Request(flask.Request):
    """Flask's request, whose body stream holds a chunked body to the limit as well."""

    @cached_property
    def stream(self) -> t.IO[bytes]:
        """The body, limited to ``Content-Length`` or ``max_content_length`` (see
        :class:`_ChunkedBodyLimit` for a body sent chunked).
        """
        if self.shallow:
            raise RuntimeError("This request was created with 'shallow=True'.")
        limit = self.max_content_length
        if (
            limit is not None
            and self.content_length is None
            and "wsgi.input_terminated" in self.environ
        ):
            return t.cast(t.IO[bytes], _ChunkedBodyLimit(self.environ["wsgi.input"], limit))
        return get_input_stream(self.environ, max_content_length=limit)


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


def has_overlong_number(body: bytes) -> bool:
    """Whether a run of more than :data:`MAX_NUMBER_DIGITS` digits stands outside any string.

    One search of the body answers almost always; only a body with such a run somewhere (a
    long string of digits is fine) is searched again with its strings dropped.
    """
    if _OVERLONG_NUMBER.search(body) is None:
        return False
    return _OVERLONG_NUMBER.search(_STRING.sub(b"", body)) is not None


def refuse_absurd_json() -> Response | None:
    """Answer 400 for a JSON body nested past :data:`MAX_JSON_DEPTH` (``request.too_deep``) or
    holding a number of more than :data:`MAX_NUMBER_DIGITS` digits (``request.number_too_long``).

    The body is read under the request's size limit (a 413 as ever when over it) and kept, so
    the parser reads the same bytes without a second trip to the client.
    """
    if not is_json(request.mimetype):
        return None
    body = request.get_data(cache=True)
    if nested_deeper_than(body):
        return problem(
            400,
            "request.too_deep",
            "Request nested too deeply",
            f"JSON bodies may nest arrays and objects at most {MAX_JSON_DEPTH} levels deep.",
        )
    if has_overlong_number(body):
        return problem(
            400,
            "request.number_too_long",
            "Number too long",
            f"Numbers in JSON bodies may have at most {MAX_NUMBER_DIGITS} digits.",
        )
    return None


def init_app(app: Flask) -> None:
    """Check every JSON body before it is parsed; call once the blueprints are registered.

    The check runs after a blueprint's own before-request hooks, because one of them may set
    the size limit for its endpoints (sync takes larger batches); reading the body earlier would
    hold it to the app-wide limit. Requests outside those blueprints are checked app-wide.
    Every request's body, chunked or not, is held to the size limit (:class:`Request`).
    """
    app.request_class = Request
    covered = frozenset(app.blueprints)
    for name in covered:
        app.before_request_funcs.setdefault(name, []).append(refuse_absurd_json)

    @app.before_request
    def refuse_absurd_json_elsewhere() -> Response | None:
        """The same check, for a request no blueprint above answers."""
        if covered.intersection(request.blueprints):
            return None
        return refuse_absurd_json()
