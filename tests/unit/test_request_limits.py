"""The nesting scan: brackets counted outside strings only, and early on absurd bodies."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.request_limits import has_overlong_number, is_json, nested_deeper_than


def depth(value):
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("body", "deeper_than_2"),
    [
        (b"[[1]]", False),
        (b"[[[1]]]", True),
        (b'{"a": {"b": {"c": 1}}}', True),
        (b'{"a": {"b": "{[{[{["}}', False),
        (b'["\\"[[[[", "\\\\", []]', False),  # an escaped quote does not end the string
        (b'["\\\\"], [[[1]]]', True),  # an escaped backslash does
        (b"]]]]]][[1]]", False),  # stray closers do not hide or invent depth
        (b'"[[[[[[', False),  # an unterminated string: the parser's to refuse
        (b"", False),
    ],
)
def test_nesting(body, deeper_than_2):
    assert nested_deeper_than(body, limit=2) is deeper_than_2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)


@given(json_values, st.integers(min_value=0, max_value=6))
def test_the_scan_agrees_with_the_parsed_depth(value, limit):
    body = json.dumps(value).encode()
    assert nested_deeper_than(body, limit=limit) is (depth(value) > limit)


def test_json_types():
    assert is_json("application/json") and is_json("application/problem+json")
    assert not is_json("text/plain") and not is_json("multipart/form-data")
    assert not is_json("text/json+json")


def test_overlong_numbers_outside_strings():
    digits = b"9" * 1001
    assert has_overlong_number(b'{"a": ' + digits + b"}")
    assert has_overlong_number(b'{"a": -' + digits + b".5}")
    assert not has_overlong_number(b'{"a": "' + digits + b'"}')  # a string of digits is fine
    assert not has_overlong_number(b'{"a": ' + b"9" * 1000 + b"}")
