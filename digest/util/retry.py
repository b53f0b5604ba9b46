"""How long to wait before trying again: one rule for HTTP sources, SMTP and the mail APIs.

Exponential backoff with "equal jitter" (between half and all of first * 2^(n-1), capped):
retries that failed together spread out instead of hitting the server again in step. A
server's `Retry-After` is read here too; callers wait for the longer of the two.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff(first: float, attempt: int, ceiling: float) -> float:
    """The wait before try `attempt + 1`, after `attempt` (1, 2, ...) failures."""
    top = min(ceiling, first * 2 ** max(0, attempt - 1))
    return top / 2 + random.uniform(0, top / 2)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
