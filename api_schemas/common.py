"""Shared schema pieces: the strict base schema, capped text, and the problem document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.columns import UNSTORABLE_MESSAGE, is_storable

SHORT_TEXT = 200
LONG_TEXT = 20_000

# PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate (JSON may spell one "\ud800")
# cannot be encoded as UTF-8 at all: neither can be stored, so neither is accepted.


def refuse_unstorable(value: object) -> None:
    """Validator: refuse a string that holds NUL or a lone surrogate."""
    if isinstance(value, str) and not is_storable(value):
        raise ValidationError(UNSTORABLE_MESSAGE)


def _guard_strings(field: fields.Field[Any]) -> None:
    """Give ``field``, and every string field inside it, the :func:`refuse_unstorable` check.

    ``field`` is this schema instance's own copy; its validator list is replaced, not appended
    to, because marshmallow's copies share that list with the class's declared field.
    ``fields.Raw`` is left alone: what it carries is loaded later through a schema of its own
    (a sync item through ``SyncVisitSchema``), so one bad item is refused on its own.
    """
    if isinstance(field, fields.String):
        field.validators = [*field.validators, refuse_unstorable]
    elif isinstance(field, fields.List):
        _guard_strings(field.inner)
    elif isinstance(field, fields.Tuple):
        for element in field.tuple_fields:
            _guard_strings(element)
    elif isinstance(field, fields.Mapping):
        if field.key_field is None:  # the keys are strings from the body too
            field.key_field = fields.String()
        for part in (field.key_field, field.value_field):
            if part is not None:
                _guard_strings(part)


class StrictSchema(Schema):
    """A load schema that rejects unknown fields (422), never dropping or mass-assigning them,
    and every string holding NUL or a lone surrogate (422, at the string's own field path).
    """

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        """Check every string this schema loads, including those in lists and dicts."""
        _guard_strings(field_obj)


def text(max_length: int = LONG_TEXT, **kwargs: Any) -> fields.String:
    """A string field capped at ``max_length`` characters."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def choice(options: tuple[str, ...], **kwargs: Any) -> fields.String:
    """A string field restricted to ``options`` (documented as an enum)."""
    return fields.String(
        validate=validate.OneOf(options), metadata={"enum": list(options)}, **kwargs
    )


class JSONBoolean(fields.Boolean):
    """Only ``true`` or ``false``: ``1`` and ``0`` are not booleans (though ``1 in {True}``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


def flag(**kwargs: Any) -> fields.Boolean:
    """A JSON boolean: only ``true`` or ``false``, not "yes", 1 or "on"."""
    return JSONBoolean(**kwargs)


def query_flag(**kwargs: Any) -> fields.Boolean:
    """A query-string boolean: only ``true`` or ``false``, not "yes", 1 or "on"."""
    return fields.Boolean(truthy={"true"}, falsy={"false"}, **kwargs)


class UTCDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset in; always UTC out (and UTC once loaded)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        try:
            return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before the year 1 in UTC
            raise ValidationError("Not a valid datetime.") from None

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(value.astimezone(UTC) if value else value, attr, obj, **kwargs)


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error is answered."""

    type = fields.String(metadata={"description": "URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String(
        metadata={"description": "Stable machine-readable code, e.g. visit.version_conflict"}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field path → messages, for 422"},
    )
    correlation_id = fields.String(metadata={"description": "For 500s: quote it when reporting"})
