"""When each reader's digest is due, in their own time zone. Pure: the clock is passed in.

An issue is identified by a date in the reader's own calendar. A reader in Tokyo who reads
at 06:45 gets the 27 Nov issue at 06:45 on 27 Nov Tokyo time (21:45 UTC on the 26th); a
reader in London gets the 27 Nov issue at 07:00 on 27 Nov London time. Dating issues by the
newsletter's time zone instead would make "the current issue" change at midnight in London,
which for Tokyo is mid-morning: a Tokyo reader would get one issue at 09:00 and nothing at
06:45, or two within hours. With reader-local dates, each reader gets one issue per local
day (or per week), at their time, and the ledger row (issue, reader) makes every later run
that day a no-op.

A reader's *slot* for a day is `send_at` on that day in their zone:
- on a spring-forward day a time inside the gap (02:30 when clocks jump from 02:00 to
  03:00) does not exist; the slot falls at the first moment after the gap, an hour later
  on the wall clock (Python's `fold=0` reading of the gap time);
- on a fall-back day a time that happens twice (01:30) is the first of the two, and the
  ledger makes the second a no-op.

The *current* slot is the latest slot at or before now on a day the frequency allows. A
reader is due when their current slot has passed and they have not received that issue:
- a run that comes late (cron missed, server down) still delivers it, but only within the
  catch-up window (`delivery.catch_up_hours`, 12 by default) after the slot. Later than
  that the next slot is near, and a daily reader would get two issues within hours; with a
  window of at most 12 hours, two issues to one reader are always 12 hours apart or more.
- a slot before the reader subscribed (`confirmed:` or `created:`) does not count: someone
  who confirms at 15:00 gets their first digest at their next send time, not at once; an
  entry whose `created:` is before its slot is owed that slot, on a first run too.
- a reader digest has never mailed and whose entry says nothing of when they subscribed
  starts with their first slot after digest first saw them (the ledger keeps when a run
  first read their entry): a first run on a fresh state, a list imported, an entry written
  by hand, all without `created:`, send nothing at once, and the next send time delivers.
- never two issues within 12 hours (`MIN_GAP`), measured from the last message the ledger
  says went out, not from slots: a reader who moves from Los Angeles to Tokyo has a Tokyo
  slot 7 hours after their last Los Angeles one, and gets that issue once 12 hours have
  passed (within the catch-up window) or at the next slot.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..models import MONTHLY, WEEKDAYS, Subscriber

# weekly:DAY comes back after 7 days, monthly:N after at most 31: a slot is never further away.
_HORIZON = 7
_MONTH_HORIZON = 31


def _horizon(frequency: str) -> int:
    return _MONTH_HORIZON if frequency.startswith("monthly:") else _HORIZON


def monthly_day(frequency: str, year: int, month: int) -> int:
    """The day of `month` a `monthly:N` reader's issue is dated: N, or the month's last day."""
    match = MONTHLY.fullmatch(frequency)
    if match is None:
        raise ValueError(f"not a monthly frequency: {frequency!r}")
    return min(int(match.group(1)), calendar.monthrange(year, month)[1])


@dataclass(frozen=True, order=True)
class Slot:
    """One send time of one reader: the instant (UTC) and the issue it delivers."""

    at: datetime
    issue: str


def runs_on(frequency: str, day: date) -> bool:
    """Whether a reader with this frequency gets an issue dated `day` (their local date)."""
    if frequency == "daily":
        return True
    if frequency == "weekdays":
        return day.weekday() < 5
    if frequency.startswith("weekly:"):
        return WEEKDAYS[day.weekday()] == frequency.partition(":")[2]
    if frequency.startswith("monthly:"):
        return day.day == monthly_day(frequency, day.year, day.month)
    raise ValueError(f"unknown frequency {frequency!r}")


def slot_on(day: date, send_at: str, tz: str) -> datetime:
    """The UTC instant of `send_at` on `day` in `tz` (DST gaps and repeats: see module doc)."""
    hour, minute = (int(part) for part in send_at.split(":"))
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz))  # fold=0
    return local.astimezone(UTC)


def local_date(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def _slot(reader: Subscriber, day: date) -> Slot:
    return Slot(slot_on(day, reader.send_at, reader.timezone), day.isoformat())


def last_slot(reader: Subscriber, now: datetime) -> Slot | None:
    """The reader's latest slot at or before `now`."""
    return _last_slot(reader.frequency, reader.send_at, reader.timezone, now)


# Readers who share a schedule share its slots: a run over 100,000 readers computes each
# (frequency, send_at, zone) once, not once per reader.
@functools.lru_cache(maxsize=8192)
def _last_slot(frequency: str, send_at: str, tz: str, now: datetime) -> Slot | None:
    today = local_date(now, tz)
    for back in range(_horizon(frequency) + 1):
        day = today - timedelta(days=back)
        if runs_on(frequency, day):
            slot = Slot(slot_on(day, send_at, tz), day.isoformat())
            if slot.at <= now:
                return slot
    return None


def next_slot(reader: Subscriber, now: datetime) -> Slot:
    """The reader's first slot strictly after `now`."""
    today = local_date(now, reader.timezone)
    for ahead in range(_horizon(reader.frequency) + 2):
        day = today + timedelta(days=ahead)
        if runs_on(reader.frequency, day):
            slot = _slot(reader, day)
            if slot.at > now:
                return slot
    raise AssertionError(
        f"no slot within {_horizon(reader.frequency) + 1} days for {reader.frequency}"
    )  # pragma: no cover


def subscribed_at(reader: Subscriber) -> datetime | None:
    moment = reader.confirmed or reader.created
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


CATCH_UP = timedelta(hours=12)


def current(
    reader: Subscriber,
    now: datetime,
    *,
    seen: datetime | None = None,
    mailed_before: bool = False,
    catch_up: timedelta = CATCH_UP,
) -> Slot | None:
    """The slot whose issue a `--due` run owes this reader at `now`, if any (the ledger then
    says whether it went out already). `seen`: when a run first saw the reader; with neither
    `mailed_before` nor a time they subscribed or were seen, nothing is owed yet."""
    slot = last_slot(reader, now)
    if slot is None or now - slot.at > catch_up:
        return None
    # A reader never mailed starts when they subscribed, or else when a run first saw them.
    since = subscribed_at(reader)
    if since is None and not mailed_before:
        if seen is None:
            return None
        since = seen
    if since is not None and slot.at < since:
        return None
    return slot


MIN_GAP = timedelta(hours=12)


def too_soon(last_sent: datetime | None, now: datetime) -> bool:
    """Whether a new issue at `now` would come within `MIN_GAP` of the reader's last one,
    whatever their zone and send time say now (they may have changed since)."""
    return last_sent is not None and now - last_sent < MIN_GAP


def today(reader: Subscriber, now: datetime) -> str:
    """The issue an explicit `digest send` (no `--due`) delivers: the reader's local date."""
    return local_date(now, reader.timezone).isoformat()


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe(reader: Subscriber) -> str:
    """The reader's schedule in words: "every weekday at 08:30, America/New_York time"."""
    if reader.frequency == "daily":
        days = "every day"
    elif reader.frequency == "weekdays":
        days = "every weekday"
    elif reader.frequency.startswith("monthly:"):
        n = int(reader.frequency.partition(":")[2])
        days = f"on day {n} of every month" + (" (the last day in shorter months)" if n > 28 else "")
    else:
        days = f"every {_DAY_NAMES[WEEKDAYS.index(reader.frequency.partition(':')[2])]}"
    return f"{days} at {reader.send_at}, {reader.timezone} time"
