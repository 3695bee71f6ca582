"""A QuickDumpSchema dumps exactly what marshmallow's own ``Schema.dump`` does, or lets
marshmallow do it when a plan cannot promise that.
"""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump

from api_schemas.common import QuickDumpSchema, UTCDateTime, _dump_plan
from api_schemas.visits import VisitOutSchema


def marshmallows(schema: Schema, obj, many=None):
    return Schema.dump(schema, obj, many=many)


def _child(number: int, *, voice: bool) -> SimpleNamespace:
    return SimpleNamespace(
        child_id=uuid.uuid4(),
        child_name=f"Child {number}",
        seen=True,
        seen_alone=number % 2 == 0,
        not_seen_reason=None,
        not_seen_detail=None,
        not_seen_alone_reason=None if number % 2 == 0 else "carer_refused",
        not_seen_alone_detail="",
        bedroom_seen=None,
        voice={
            "own_words": "I like the park",
            "wishes_and_feelings": None,
            "scale": {"score": 7, "question": "How safe?", "scored_by": "child"},
            "method": "direct",
            "consent_to_share": True,
        }
        if voice
        else None,
    )


def _visit(**changes) -> SimpleNamespace:
    started = datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    visit = SimpleNamespace(
        id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        visit_type="statutory",
        announced=None,
        started_at=started,
        ended_at=started + timedelta(hours=1),
        location="home",
        people_present=["mother", "Ünïcode"],
        children=[_child(1, voice=True), _child(2, voice=False), None],
        observations="A" * 100,
        analysis=None,
        next_actions="",
        status="draft",
        version=3,
        worker=SimpleNamespace(id=uuid.uuid4(), username="w", display_name="Worker"),
        recorded_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        updated_at=datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC),
        submitted_at=None,
        amendment_reason=None,
        delivery=None,
    )  # last_submitted_at left out: absent, so left out of the dump
    for name, value in changes.items():
        setattr(visit, name, value)
    return visit


def test_the_visit_schema_has_a_plan():
    assert _dump_plan(VisitOutSchema()) is not None


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"children": [], "people_present": None, "worker": None},
        {
            "delivery": SimpleNamespace(
                state="delivered",
                version=2,
                attempts=1,
                delivered_at=datetime(2026, 12, 2, tzinfo=UTC),
                core_reference="CORE-1",
                next_attempt_at=None,
            )
        },
        {"version": True, "announced": 1, "location": b"bytes"},
    ],
)
def test_a_visit_dumps_as_marshmallow_dumps_it(changes):
    schema = VisitOutSchema()
    visit = _visit(**changes)
    assert schema.dump(visit) == marshmallows(schema, visit)


def test_many_dumps_as_marshmallow_dumps_it():
    visits = [_visit(), _visit(children=[])]
    assert VisitOutSchema(many=True).dump(visits) == marshmallows(VisitOutSchema(many=True), visits)
    assert VisitOutSchema().dump(visits, many=True) == marshmallows(VisitOutSchema(), visits, True)


class _Inner(Schema):
    name = fields.String(dump_default="unnamed")
    at = UTCDateTime(allow_none=True)


class _Shapes(QuickDumpSchema):
    renamed = fields.String(data_key="shown_as")
    read_from = fields.Integer(attribute="other")
    counted = fields.Integer(dump_default=lambda: 5)
    inner = fields.Nested(_Inner, allow_none=True)
    inners = fields.Nested(_Inner, many=True)
    listed = fields.List(fields.Nested(_Inner))
    tags = fields.List(fields.String(), allow_none=True)
    only_some = fields.Nested(_Inner, only=("name",))


@pytest.mark.parametrize(
    "obj",
    [
        SimpleNamespace(
            renamed="x",
            other=2,
            inner=SimpleNamespace(name="n", at=datetime(2026, 1, 1, tzinfo=UTC)),
            inners=[SimpleNamespace(at=None)],
            listed=[None, {"name": "from a dict"}],
            tags=None,
            only_some={"name": "a", "at": None},
        ),
        {"renamed": "dict", "other": 3, "inner": None, "inners": [], "listed": [], "tags": ["a"]},
        {},
    ],
)
def test_every_shape_dumps_as_marshmallow_dumps_it(obj):
    schema = _Shapes()
    assert schema._planned is False
    assert schema.dump(obj) == marshmallows(schema, obj)
    assert schema._plan is not None


class _Hooked(QuickDumpSchema):
    name = fields.String()

    @post_dump
    def _shout(self, data, **kwargs):
        return {key: value.upper() for key, value in data.items()}


class _WithMethod(QuickDumpSchema):
    name = fields.Method("_name")

    def _name(self, obj):
        return "method"


class _HooksInside(QuickDumpSchema):
    inner = fields.Nested(_Hooked)


@pytest.mark.parametrize(
    ("schema", "obj", "dumped"),
    [
        (_Hooked(), {"name": "a"}, {"name": "A"}),
        (_WithMethod(), {}, {"name": "method"}),
        (_HooksInside(), {"inner": {"name": "b"}}, {"inner": {"name": "B"}}),
    ],
)
def test_what_a_plan_cannot_promise_is_left_to_marshmallow(schema, obj, dumped):
    assert schema.dump(obj) == dumped
    assert schema._planned and schema._plan is None
