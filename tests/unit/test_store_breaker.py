"""The evidence store's circuit breaker: closed, open for the cool-down, one trial, closed."""

from __future__ import annotations

import threading

import pytest

from storage.base import StorageUnavailable
from storage.breaker import CircuitBreaker, FailingFast


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_closed_lets_every_call_through(clock):
    breaker = CircuitBreaker(15, clock)
    assert breaker.before() is False
    breaker.refuse_if_open()
    breaker.succeeded()
    assert breaker.before() is False


def test_a_timeout_opens_it_for_the_cool_down_then_one_trial_goes_through(clock):
    breaker = CircuitBreaker(15, clock)
    breaker.timed_out()
    with pytest.raises(FailingFast) as refused:
        breaker.before()
    assert isinstance(refused.value, StorageUnavailable)  # the same 503 as a timeout
    with pytest.raises(FailingFast):
        breaker.refuse_if_open()
    clock.now += 14.9
    with pytest.raises(FailingFast):
        breaker.before()
    clock.now += 0.2
    assert breaker.before() is True  # the trial
    breaker.refuse_if_open()  # the trial's own requests are not refused
    with pytest.raises(FailingFast):
        breaker.before()  # nobody else while the trial runs
    breaker.succeeded()
    assert breaker.before() is False


def test_a_trial_that_times_out_opens_it_again(clock):
    breaker = CircuitBreaker(15, clock)
    breaker.timed_out()
    clock.now += 15
    assert breaker.before() is True
    breaker.timed_out()
    with pytest.raises(FailingFast):
        breaker.before()
    clock.now += 15
    assert breaker.before() is True


def test_an_abandoned_trial_lets_the_next_call_be_the_trial(clock):
    breaker = CircuitBreaker(15, clock)
    breaker.timed_out()
    clock.now += 15
    assert breaker.before() is True
    breaker.abandon()
    assert breaker.before() is True


def test_zero_disables_it(clock):
    breaker = CircuitBreaker(0, clock)
    breaker.timed_out()
    assert breaker.before() is False
    breaker.refuse_if_open()


def test_only_one_of_many_threads_gets_the_trial(clock):
    breaker = CircuitBreaker(15, clock)
    breaker.timed_out()
    clock.now += 15
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def call():
        barrier.wait()
        try:
            outcomes.append("trial" if breaker.before() else "closed")
        except FailingFast:
            outcomes.append("refused")

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 15 + ["trial"]
