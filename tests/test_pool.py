"""The delivery pool's rate limit: starts evenly spaced, never bunched, however many
workers ask at once. The clock is passed in, so nothing here depends on timing."""

from __future__ import annotations

import pytest

from digest.delivery.pool import RateLimit


class Clock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def test_a_rate_limit_spaces_starts_evenly_from_the_first():
    clock = Clock()
    limit = RateLimit(4, clock=clock, sleep=clock.sleep)
    for _ in range(5):  # five workers asking at the same instant
        limit.wait()
    assert clock.slept == [0.25, 0.5, 0.75, 1.0]  # the first goes at once


def test_a_pause_longer_than_the_interval_lets_the_next_start_at_once():
    clock = Clock()
    limit = RateLimit(10, clock=clock, sleep=clock.sleep)
    limit.wait()
    clock.now += 5  # nothing to send for a while: no debt, no burst either
    limit.wait()
    limit.wait()
    assert clock.slept == [pytest.approx(0.1)]


def test_no_rate_never_waits():
    clock = Clock()
    limit = RateLimit(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limit.wait()
    assert clock.slept == []
