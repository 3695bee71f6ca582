"""Shared schema pieces: the strict base schema, capped text, and the problem document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_DUMP, PRE_DUMP

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


# What a dump plan's step does with the value it read: the field's own ``_serialize``, a nested
# schema's plan, that plan for each item of a list of nested objects, or of a ``many`` nested.
_AS_FIELD, _AS_NESTED, _AS_EACH, _AS_MANY = 0, 1, 2, 3
_ACCESS_ERRORS = (KeyError, IndexError, TypeError, AttributeError)


def _dump_plan(schema: Schema) -> Callable[[Any], dict[str, Any]] | None:
    """One object's dump by ``schema``, as marshmallow's ``Schema.dump`` does it, or None where
    that cannot be promised (dump hooks, a custom accessor, a field that reads its own value).

    Each field's value is read as marshmallow reads it (``obj[key]`` for what has items, else
    ``getattr``; the field's ``dump_default`` when absent; an absent value without one is left
    out) and formatted by the field's own ``_serialize``; a nested schema or a list of one is
    dumped by that schema's own plan. What is skipped is marshmallow's per-field calls around
    them (``serialize``, ``get_value``, ``get_attribute``, ``get_value``, ``_get_value_for_key``):
    68 fields in a visit, about a twentieth of a visit create's CPU.
    """
    if (
        schema._hooks[PRE_DUMP]
        or schema._hooks[POST_DUMP]
        or type(schema).get_attribute is not Schema.get_attribute
        or schema.dict_class is not dict
    ):
        return None
    steps: list[tuple[str, str, str, fields.Field[Any], int, Any]] = []
    for name, field in schema.dump_fields.items():
        kind, nested = _AS_FIELD, None
        if (
            not field._CHECK_ATTRIBUTE
            or type(field).serialize is not fields.Field.serialize
            or type(field).get_value is not fields.Field.get_value
        ):
            return None
        source = field.attribute if field.attribute is not None else name
        if "." in source:
            return None
        inner = field.inner if type(field) is fields.List else field
        if type(inner) is fields.Nested:
            many = inner.schema.many or inner.many
            nested = _dump_plan(inner.schema)
            if nested is None or (many and inner is not field):
                return None
            kind = _AS_NESTED if inner is field and not many else _AS_MANY if many else _AS_EACH
        key = field.data_key if field.data_key is not None else name
        steps.append((key, name, source, field, kind, nested))

    def dump(obj: Any) -> dict[str, Any]:
        keyed = hasattr(obj, "__getitem__")
        result: dict[str, Any] = {}
        for key, name, source, field, kind, nested in steps:
            if keyed:
                try:
                    value = obj[source]
                except _ACCESS_ERRORS:
                    value = getattr(obj, source, missing)
            else:
                value = getattr(obj, source, missing)
            if value is missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is missing:
                    continue
            if kind == _AS_FIELD:
                value = field._serialize(value, name, obj)
                if value is missing:
                    continue
            elif value is not None:
                if kind == _AS_NESTED:
                    value = nested(value)
                elif kind == _AS_EACH:  # List(Nested): a None item stays None
                    value = [None if item is None else nested(item) for item in value]
                else:  # Nested(many=True): every item dumped, as marshmallow does
                    value = [nested(item) for item in value]
            result[key] = value
        return result

    return dump


class QuickDumpSchema(Schema):
    """A response schema dumped by a plan made once from its fields (:func:`_dump_plan`): the
    same output as marshmallow's ``dump``, in fewer calls. A schema the plan cannot promise
    that for is dumped by marshmallow as ever.
    """

    _planned = False
    _plan: Callable[[Any], dict[str, Any]] | None = None

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """As marshmallow's ``Schema.dump``."""
        if not self._planned:
            self._plan = _dump_plan(self)
            self._planned = True
        plan = self._plan
        if plan is None:
            return super().dump(obj, many=many)
        if (self.many if many is None else many) and obj is not None:
            return [plan(item) for item in obj]
        return plan(obj)
