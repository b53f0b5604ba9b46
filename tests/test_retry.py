"""One backoff rule for sources, SMTP and the mail APIs: doubling, capped, with equal jitter."""

from __future__ import annotations

from digest.util.retry import backoff


def test_the_wait_doubles_from_the_first_stays_within_half_to_all_and_stops_at_the_ceiling():
    for attempt, top in ((1, 2.0), (2, 4.0), (3, 8.0), (6, 30.0), (40, 30.0)):
        waits = [backoff(2.0, attempt, 30.0) for _ in range(200)]
        assert all(top / 2 <= w <= top for w in waits), (attempt, min(waits), max(waits))
        assert max(waits) - min(waits) > top / 10  # jittered, not in step


def test_a_zero_first_wait_never_waits():
    assert {backoff(0.0, n, 30.0) for n in range(1, 5)} == {0.0}
