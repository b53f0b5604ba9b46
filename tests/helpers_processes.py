"""Several processes opening one new file at the same moment, as cron runs on a fresh
deployment do."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

PROCESSES = 4


def all_at_once(open_one: Callable[[Path, object], str | None], folder: Path, trials: int = 20) -> list[str]:
    """Call `open_one(path, start)` in PROCESSES processes at once for each of `trials` new
    files (each waits on the barrier `start` first); the problems they report."""
    context = multiprocessing.get_context("fork")
    problems: list[str] = []
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        for trial in range(trials):
            start = manager.Barrier(PROCESSES)
            path = folder / f"state{trial}.db"
            problems += [p for p in pool.starmap(open_one, [(path, start)] * PROCESSES) if p]
    return problems
