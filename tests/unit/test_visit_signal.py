"""The visits' signal calls its receivers as blinker does, and refuses a coroutine function
when it is connected (blinker refused it on every send).
"""

import pytest

from service.visits.lifecycle import _PlainSignal


def test_receivers_are_called_with_the_sender_and_their_answers_returned():
    signal = _PlainSignal("test-plain")
    heard = []

    def first(sender, **kwargs):
        heard.append(("first", sender, kwargs))
        return 1

    def second(sender, **kwargs):
        heard.append(("second", sender, kwargs))
        return 2

    signal.connect(first)
    signal.connect(second, sender="only this")
    assert signal.send("change", extra=True) == [(first, 1)]
    assert sorted(answer for _, answer in signal.send("only this")) == [1, 2]
    assert heard[0] == ("first", "change", {"extra": True})
    with signal.muted():
        assert signal.send("change") == []


def test_a_coroutine_function_is_refused_when_connected():
    signal = _PlainSignal("test-plain-async")

    async def receiver(sender, **kwargs):
        return None

    with pytest.raises(TypeError, match="coroutine"):
        signal.connect(receiver)
    assert not signal.receivers
