"""The app remembers which of its functions are plain; coroutine functions are still refused
(Flask needs asgiref to run them, which this service does not install).
"""

import functools

import pytest

from service import _App


def test_a_plain_function_is_checked_once_and_returned_as_it_is():
    app = _App(__name__)

    def view():
        return "ok"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is view
    assert app._sync_checked == {view: view}


def test_a_coroutine_function_is_never_taken_for_a_plain_one():
    app = _App(__name__)

    async def view():
        return "ok"

    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)
    assert app._sync_checked == {}


def test_a_bound_method_and_a_partial_are_checked_once():
    app = _App(__name__)

    class Extension:
        def hook(self):
            return "ok"

    def hooked(response, extension):
        return response

    method = Extension().hook
    bound = functools.partial(hooked, extension=object())
    for _ in range(2):
        assert app.ensure_sync(method) == method
        assert app.ensure_sync(bound) is bound
    assert app._sync_checked == {method: method, bound: bound}


def test_a_coroutine_method_or_partial_is_never_taken_for_a_plain_one():
    app = _App(__name__)

    class Extension:
        async def hook(self):
            return "ok"

    async def hooked(response):
        return response

    for func in (Extension().hook, functools.partial(hooked)):
        for _ in range(2):
            with pytest.raises(RuntimeError, match="async"):
                app.ensure_sync(func)
    assert app._sync_checked == {}


def test_a_method_of_an_object_without_a_hash_is_remembered_by_the_object():
    app = _App(__name__)

    class Unhashable:
        __hash__ = None

        def hook(self):
            return "ok"

    method = Unhashable().hook
    assert app.ensure_sync(method) == method
    assert app._sync_checked == {method: method}
