"""Shared schema pieces: the strict base schema, capped text, and the problem document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

SHORT_TEXT = 200
LONG_TEXT = 20_000


class StrictSchema(Schema):
    """A load schema that rejects unknown fields (422), never dropping or mass-assigning them."""

    class Meta:
        unknown = RAISE


def text(max_length: int = LONG_TEXT, **kwargs: Any) -> fields.String:
    """A string field capped at ``max_length`` characters."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def choice(options: tuple[str, ...], **kwargs: Any) -> fields.String:
    """A string field restricted to ``options`` (documented as an enum)."""
    return fields.String(
        validate=validate.OneOf(options), metadata={"enum": list(options)}, **kwargs
    )


def flag(**kwargs: Any) -> fields.Boolean:
    """A JSON boolean: only ``true`` or ``false``, not "yes", 1 or "on"."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


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
