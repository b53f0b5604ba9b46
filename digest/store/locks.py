"""Advisory file locks (flock) shared by the send run, subscriber edits and the scheduler.

The lock is a file of its own beside what it guards, so guarded files can be replaced by
rename. The kernel drops a flock when its holder dies: a killed process never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _taken(lock_path: Path) -> Exception:
    return TimeoutError(f"{lock_path} is held by another process")


@contextmanager
def file_lock(
    lock_path: Path, *, wait: float, poll: float = 0.05, taken: Callable[[Path], Exception] = _taken
) -> Iterator[int]:
    """Hold an exclusive lock on `lock_path`, waiting up to `wait` seconds (0: do not wait);
    if it stays taken, raise `taken(lock_path)`. Yields the lock file's descriptor."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise taken(lock_path) from None
                time.sleep(poll)
        yield fd
    finally:
        os.close(fd)
