"""The storage seam: what `send`, `web`, `optin`, `schedule` and the CLI may ask of storage.

They see these Protocols and never SQL or file formats. Two engines implement the database
side, SQLite (digest/store/sqlite.py, one file, the default) and PostgreSQL
(digest/store/postgres.py, several machines); the subscriber list is either a YAML file
(digest/store/yamllist.py) or a table in that database. `open_stores(config)` picks them by
the configuration's `state:` and `subscribers:`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ..models import Subscriber
from ..readers.subscribers import Change, Event


class Claim(StrEnum):
    CLAIMED = "claimed"  # the row is this run's: deliver it
    SENT = "sent"  # someone already delivered it
    BUSY = "busy"  # another live run holds it


@dataclass(frozen=True)
class LastSent:
    """A reader's latest delivery: the newest issue they have and when the last message went
    out (the sending run's clock). `send --due` never sends an older issue than `issue`, nor
    any issue within 12 hours of `at` (digest/readers/due.py)."""

    issue: str
    at: datetime | None


@dataclass(frozen=True)
class Bounce:
    email: str
    code: int | None
    reason: str
    issue: str | None
    at: str


@dataclass(frozen=True)
class CachedResponse:
    etag: str | None
    last_modified: str | None
    body: bytes


class Run(Protocol):
    """One send run's name in the ledger, alive exactly as long as the process holds it."""

    @property
    def id(self) -> str: ...


class Ledger(Protocol):
    """One row per (issue, reader): claimed before delivery, sent once the server accepted it.
    Also each reader's history of papers, and the addresses that bounced."""

    where: str

    def run(self) -> AbstractContextManager[Run]: ...
    def claim(self, issue: str, email: str, message_id: str, run: Run | None = None) -> Claim: ...
    def claim_all(self, rows: Sequence[tuple[str, str, str]], run: Run | None = None) -> list[Claim]: ...
    def mark_sent(
        self,
        issue: str,
        email: str,
        paper_ids: Iterable[str],
        *,
        note: str | None = None,
        at: datetime | None = None,  # the sending run's clock (`--now` moves it); default: now
    ) -> None: ...
    def mark_sent_all(
        self, rows: Sequence[tuple[str, str, Sequence[str], str | None, datetime | None]]
    ) -> None: ...
    def mark_failed(self, issue: str, email: str, error: str) -> None: ...
    def mark_bounced(self, issue: str, email: str, code: int, reason: str) -> None: ...
    def sent_to(self, issue: str) -> set[str]: ...
    def last_sent(self) -> dict[str, LastSent]: ...
    def seen_readers(self) -> dict[str, datetime]: ...
    def mark_seen(self, emails: Iterable[str], at: datetime) -> None: ...
    def nothing_new(self, issue: str) -> dict[str, str]: ...
    def mark_nothing_new(self, issue: str, email: str, built_from: str) -> None: ...
    def papers_sent(self, email: str, *, except_issue: str, since: str | None = None) -> frozenset[str]: ...
    def record_bounce(self, email: str, code: int | None, reason: str, issue: str | None) -> None: ...
    def bounced(self) -> dict[str, str]: ...
    def bounces(self) -> list[Bounce]: ...
    def clear_bounce(self, email: str) -> bool: ...


class OwnPapers(Protocol):
    """What readers tell about their interests beyond their entry: a library of papers, and
    "more/less like this" from the email; and the profiles made of them (digest/issue/similar.py)."""

    def remember_papers(self, papers: Iterable[tuple[str, str, str, str | None]]) -> None: ...
    def paper(self, paper_id: str) -> tuple[str, str, str | None] | None: ...
    def set_library(self, email: str, entries: Iterable[tuple[str, str, str]]) -> int: ...
    def library(self, email: str) -> list[tuple[str, str, str]]: ...
    def record_feedback(self, email: str, paper_id: str, vote: int) -> None: ...
    def feedback(self, email: str) -> list[tuple[str, int, str, str]]: ...
    def profile(self, email: str) -> tuple[str | None, str | None] | None: ...
    def store_profile(self, email: str, source: str, data: str) -> None: ...


class Tldrs(Protocol):
    """TL;DRs a summaries endpoint wrote (digest/jobs/summaries.py), by paper, model and a hash of
    the text it was sent."""

    def tldrs(self, model: str, keys: Iterable[tuple[str, str]]) -> dict[str, str]: ...
    def store_tldr(self, paper_id: str, model: str, text_hash: str, tldr: str) -> None: ...


class Listings(Protocol):
    """What the sources said over time: each paper's upvotes, comments and stars, a snapshot
    per day (digest/issue/signals.py), and the days they listed nothing (digest/issue/quiet_days.py)."""

    def mark_empty_day(self, day: str, said: str) -> None: ...
    def empty_days(self, first: str, last: str) -> dict[str, str]: ...

    def record_signals(
        self, day: str, rows: Iterable[tuple[str, int | None, int | None, int | None]]
    ) -> None: ...
    def signals_before(
        self, day: str, paper_ids: Iterable[str]
    ) -> dict[str, tuple[str, int | None, int | None, int | None]]: ...


class ReaderFeeds(Protocol):
    """Each reader's private feed: its key, and the issues they were sent with their papers."""

    def feed_key(self, email: str, *, renew: bool = False) -> str: ...
    def current_feed_key(self, email: str) -> str | None: ...
    def issues_sent(self, email: str, limit: int) -> list[SentIssue]: ...


@dataclass(frozen=True)
class SentIssue:
    """One issue as a reader got it: when, and the papers it carried (id, title, url, abstract)."""

    issue: str
    sent_at: str
    papers: list[tuple[str, str, str | None, str]]


class RateLimits(Protocol):
    def allow(self, bucket: str, key: str, *, now: float, window: float, limit: int) -> bool: ...
    # None when admitted (and counted), else the seconds until `key` would be admitted again.
    def admit(self, bucket: str, key: str, *, now: float, window: float, limit: int) -> float | None: ...


class HttpCache(Protocol):
    """Each URL's validators with the body they validate (conditional requests on fetch).
    Never raises: a cache that cannot be used turns itself off and says why in `problem`."""

    problem: str | None

    def get(self, url: str) -> CachedResponse | None: ...
    def put(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None: ...
    def touch(self, url: str) -> None: ...
    def close(self) -> None: ...


class SubscriberStore(Protocol):
    """The list of readers. Every change goes through the rules in digest/readers/subscribers.py."""

    where: str  # names the list in messages: a file, or the database

    # Everything wrong with the list; [] when it can be used. `thorough`: check every entry
    # again, even those a database checked when they were written (`digest subscribers --check`).
    def problems(self, *, thorough: bool = False) -> list[str]: ...
    def readers(self) -> Iterator[Subscriber]: ...  # every entry, streamed: the list is never held
    def find(self, email: str) -> Subscriber | None: ...
    def apply(self, email: str, event: Event, *, now: datetime) -> Change: ...
    def apply_all(
        self,
        changes: Iterable[tuple[str, Event]],
        *,
        now: datetime,
        each: Callable[[Change], None] | None = None,
    ) -> None: ...
    def signature(self) -> object: ...  # changes whenever the list does (the scheduler watches it)
    def close(self) -> None: ...
