"""`make test-clock`: every Python process of the test run lives at a moved instant.

`make test-clock` puts this folder on PYTHONPATH, so Python imports this file at start-up in
the pytest process, in its xdist workers and in every `digest` process a test starts. With
DIGEST_TEST_CLOCK set (an ISO instant, or `auto`: the last 02:30 UTC, when London, New York and
Tokyo are on two dates), the first process fixes the offset from the real clock and exports it
as DIGEST_TEST_CLOCK_OFFSET; each process it starts inherits that offset, so all of them
agree on the moved time while it keeps running at normal speed.

time-machine moves Python's clocks (time.time, datetime.now, ...) but not time.monotonic, so
timeouts and waits keep working; Debian's faketime moves the C library's clocks too and breaks
`subprocess.wait(timeout=...)`. The instant is always in the past, so certificates made during
the run with the real clock are already valid at the moved one.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta


def _offset() -> float | None:
    if "DIGEST_TEST_CLOCK_OFFSET" in os.environ:
        return float(os.environ["DIGEST_TEST_CLOCK_OFFSET"])
    wanted = os.environ.get("DIGEST_TEST_CLOCK")
    if not wanted:
        return None
    real = datetime.now(UTC)
    if wanted == "auto":
        target = real.replace(hour=2, minute=30, second=0, microsecond=0)
        if target > real:
            target -= timedelta(days=1)
    else:
        target = datetime.fromisoformat(wanted)
    offset = target.timestamp() - time.time()
    os.environ["DIGEST_TEST_CLOCK_OFFSET"] = repr(offset)
    return offset


def _travel() -> None:
    offset = _offset()
    if offset is None:
        return
    import time_machine

    time_machine.travel(time.time() + offset, tick=True).start()


_travel()
