"""The app remembers which of its functions are plain; coroutine functions are still refused
(Flask needs asgiref to run them, which this service does not install).
"""

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
