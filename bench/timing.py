"""Small timing helpers: best-of-N medians, so a noisy shared machine disturbs less."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def per_call(
    fn: Callable[[], object],
    *,
    repeat: int = 5,
    number: int = 20,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median seconds per call over `repeat` batches of `number` calls. Pass
    `clock=time.process_time` to count only this process's CPU time, which other jobs on a
    shared machine disturb less than wall time."""
    samples = []
    for _ in range(repeat):
        start = clock()
        for _ in range(number):
            fn()
        samples.append((clock() - start) / number)
    return statistics.median(samples)
