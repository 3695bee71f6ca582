"""StrictSchema refuses NUL and lone surrogates in every string it loads, wherever it sits."""

import pytest
from marshmallow import ValidationError, fields

from api_schemas.common import UNSTORABLE_MESSAGE, StrictSchema, text


class Inner(StrictSchema):
    words = text()


class Everything(StrictSchema):
    plain = fields.String()
    capped = text(10)
    listed = fields.List(text())
    paired = fields.Tuple((fields.String(), fields.Integer()))
    keyed = fields.Dict()
    typed = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    nested = fields.List(fields.Nested(Inner))
    raw = fields.Raw()  # loaded later through a schema of its own, as sync items are


# (body with the bad string in it, path of the error in marshmallow's messages)
PLACES = {
    "field": (lambda bad: {"plain": bad}, lambda bad: ("plain",)),
    "capped field": (lambda bad: {"capped": bad}, lambda bad: ("capped",)),
    "list item": (lambda bad: {"listed": ["fine", bad]}, lambda bad: ("listed", 1)),
    "tuple item": (lambda bad: {"paired": [bad, 1]}, lambda bad: ("paired", 0)),
    "dict key": (lambda bad: {"keyed": {bad: 1}}, lambda bad: ("keyed", bad, "key")),
    "dict value item": (
        lambda bad: {"typed": {"k": ["fine", bad]}},
        lambda bad: ("typed", "k", "value", 1),
    ),
    "nested schema": (
        lambda bad: {"nested": [{"words": "fine"}, {"words": bad}]},
        lambda bad: ("nested", 1, "words"),
    ),
}


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize("place", PLACES)
def test_the_error_sits_at_the_strings_own_path(place, bad):
    body, path = (build(bad) for build in PLACES[place])
    with pytest.raises(ValidationError) as refused:
        Everything().load(body)
    node = refused.value.messages
    for key in path:
        node = node[key]
    assert node == [UNSTORABLE_MESSAGE]


def test_proper_text_and_raw_values_pass():
    loaded = Everything().load(
        {"plain": "Emoji \U0001f600 and Welsh ŵ", "raw": "\x00", "keyed": {"k": 1}}
    )
    assert loaded["raw"] == "\x00"


def test_the_check_is_added_once_per_schema_not_once_per_instance():
    for _ in range(3):
        Everything()
    assert len(Everything().fields["capped"].validators) == 2  # the length cap, then the check
    assert len(Everything._declared_fields["capped"].validators) == 1
