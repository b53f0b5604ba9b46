"""What SQLite and PostgreSQL share: the ledger, history, bounces, rate limits, HTTP cache and
the subscriber table, in SQL both speak. The engines (sqlite.py, postgres.py) bring the
connection, the write transaction, run liveness and how their errors read.

Ledger rows: `claimed` before delivery, `sent` once the backend has accepted the message,
`failed` when it could not be delivered this time. A run killed in between leaves `claimed`
rows; the next run delivers them again (only what was in flight may go twice) and skips every
`sent` row. Each claim names the run that made it; a row held by a live run is left to it, a
dead run's is taken over. No lease times out, so a slow run never loses a row it is sending.

Each thread gets its own connection: the web app answers requests from a thread pool, a send
run claims from one thread, the fetch threads share the HTTP cache.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..errors import DigestError
from ..models import Subscriber
from ..readers.subscribers import (
    Change,
    Event,
    NotListed,
    Outcome,
    Topics,
    address_key,
    after,
    decide,
    validated,
)
from .base import Bounce, CachedResponse, Claim, LastSent, Run, SentIssue
from .runs import RunHistory
from .schema import LATEST

HTTP_CACHE_KEEP_DAYS = 14
PAGE = 1000  # subscribers read per query when streaming the list
SEEN_ROWS = 1000  # readers marked seen per INSERT
SIGNAL_ROWS = 500  # papers' snapshots per statement (5 values each: under SQLite's 32,766)
LIST_FIELDS = ("topics", "keywords", "authors", "categories", "organizations", "exclude")
ROW = ("address, name, status, frequency, send_at, timezone, prefs, created, confirmed, unsubscribed, "
       "seq, email")  # fmt: skip


class Execute(Protocol):
    """`execute(sql, params=()) -> cursor` inside a transaction."""

    def __call__(self, sql: str, params: tuple = ..., /) -> Any: ...


def value_rows(rows: int, width: int) -> str:
    """`(?, ?), (?, ?)` for a multi-row INSERT of `rows` rows of `width` values."""
    row = "(" + ", ".join(["?"] * width) + ")"
    return ", ".join([row] * rows)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


SENT_PAPERS_ROWS = 1000  # (reader, paper) rows per INSERT: 4,000 parameters, under every limit

# Take a reader's row for this run: a new row, one that failed, or a claim with no owner or
# the dead `stale` owner's (claim, claim_all).
_CLAIM = """INSERT INTO deliveries (issue, email, status, message_id, claimed_at, owner)
   VALUES (?, ?, 'claimed', ?, ?, ?)
   ON CONFLICT (issue, email) DO UPDATE
   SET status = 'claimed', message_id = excluded.message_id,
       claimed_at = excluded.claimed_at, owner = excluded.owner, error = NULL
   WHERE deliveries.status = 'failed'
      OR (deliveries.status = 'claimed'
          AND (deliveries.owner IS NULL OR deliveries.owner = ?))"""


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SqlDatabase(RunHistory):
    """The Ledger, RateLimits and table SubscriberStore of one database (see base.py), and
    the run history (runs.py)."""

    engine = ""
    where = ""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()

    # --- engine hooks ----------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        """The statement in the engine's parameter style (written here with `?`)."""
        return sql

    def transaction(self) -> AbstractContextManager[Execute]:
        """A write transaction: yields `execute(sql, params) -> cursor`."""
        raise NotImplementedError

    def _lock_address(self, execute: Execute, email: str) -> None:
        """Serialise changes to one address inside a transaction (SQLite: the transaction
        already serialises every writer)."""

    def alive(self, run_id: str | None) -> bool:
        raise NotImplementedError

    def run(self) -> AbstractContextManager[Run]:
        raise NotImplementedError

    def upgrade(self) -> list[str]:
        """Apply every migration the database lacks; what was applied."""
        raise NotImplementedError

    def integrity(self) -> list[str]:
        """What is wrong with the database, if anything."""
        raise NotImplementedError

    def one_scheduler(self) -> AbstractContextManager[None]:
        """Held while this process is the database's one `digest schedule`."""
        raise NotImplementedError

    def errors(self) -> AbstractContextManager[None]:
        """Turn the engine's errors into a DigestError naming the database and what to do."""
        raise NotImplementedError

    # --- connections -----------------------------------------------------------------------

    def connection(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None:
            with self.errors():
                db = self._connect()
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.errors():
            cursor = self.connection().execute(self._sql(sql), params)
            return cursor.fetchall()

    def one(self, sql: str, params: tuple = ()) -> tuple | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def write(self, sql: str, params: tuple = ()) -> int:
        with self.transaction() as execute:
            return execute(sql, params).rowcount

    def close(self) -> None:
        with self._all_lock:
            for db in self._all:
                try:
                    db.close()
                except Exception:  # closing is best effort: the process may be going down
                    pass
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> SqlDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> int:
        row = self.one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    def version_or_zero(self) -> int:
        """The schema version, 0 for a database without digest's tables."""
        return self.version()

    # --- ledger ----------------------------------------------------------------------------

    def sent_to(self, issue: str) -> set[str]:
        """Everyone this issue has been delivered to (lower case)."""
        rows = self.read("SELECT email FROM deliveries WHERE issue = ? AND status = 'sent'", (issue,))
        return {email for (email,) in rows}

    def claim(self, issue: str, email: str, message_id: str, run: Run | None = None) -> Claim:
        """Take the row for delivery: CLAIMED (it is `run`'s now), SENT (someone already
        delivered it) or BUSY (another live run holds it). A row claimed by a run that is
        gone, or that failed last time, is taken."""
        owner = run.id if run else None
        email = email.lower()
        stale: str | None = None
        for _ in range(3):  # claim, and once more after finding its holder dead
            taken = self.write(_CLAIM, (issue, email, message_id, now_text(), owner, stale))
            if taken:
                return Claim.CLAIMED
            row = self.one(
                "SELECT status, owner FROM deliveries WHERE issue = ? AND email = ?", (issue, email)
            )
            if row is None:
                continue
            status, holder = row
            if status == "sent":
                return Claim.SENT
            if holder == owner or self.alive(holder):
                return Claim.BUSY
            stale = holder
        return Claim.BUSY

    def claim_all(self, rows: Sequence[tuple[str, str, str]], run: Run | None = None) -> list[Claim]:
        """`claim` for each (issue, email, message id), the free rows taken in one transaction
        (a send claims some readers ahead: one commit, not one per reader); a row not taken
        so is looked at alone, as `claim` does."""
        owner, now = (run.id if run else None), now_text()
        with self.transaction() as execute:
            taken = [
                execute(_CLAIM, (issue, email.lower(), message_id, now, owner, None)).rowcount
                for issue, email, message_id in rows
            ]
        return [
            Claim.CLAIMED if took else self.claim(issue, email, message_id, run)
            for took, (issue, email, message_id) in zip(taken, rows, strict=True)
        ]

    def mark_sent(
        self,
        issue: str,
        email: str,
        paper_ids: Iterable[str],
        *,
        note: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record the delivery and the papers it carried, in one transaction. `note` keeps a
        doubt about it in `error` ("uncertain: ...": sent, but the server never said it took
        it): the row is sent all the same, so no run sends it again. `at`: when it went out by
        the sending run's clock (the 12-hour rule reads it), else now."""
        self.mark_sent_all([(issue, email, list(paper_ids), note, at)])

    def mark_sent_all(
        self, rows: Sequence[tuple[str, str, Sequence[str], str | None, datetime | None]]
    ) -> None:
        """`mark_sent` for each (issue, email, paper ids, note, at), in one transaction."""
        # One row per reader and paper: the last issue that carried it (a paper sent again
        # once the history window has passed moves its row forward). One statement for the
        # messages' papers: a round trip each cost PostgreSQL 20 per reader.
        papers: dict[tuple[str, str], tuple[str, str]] = {}
        marks: dict[tuple[str, str | None, str], list[str]] = {}  # (issue, note, when) -> readers
        for issue, email, paper_ids, note, at in rows:
            when = now_text() if at is None else at.astimezone(UTC).isoformat(timespec="seconds")
            marks.setdefault((issue, note, when), []).append(email.lower())
            papers.update(((email.lower(), pid), (issue, when)) for pid in paper_ids)
        with self.transaction() as execute:
            for (issue, note, when), emails in marks.items():  # one statement for a batch, as a rule
                for chunk in _chunks(emails, SENT_PAPERS_ROWS):
                    execute(
                        "UPDATE deliveries SET status = 'sent', sent_at = ?, error = ? "
                        f"WHERE issue = ? AND email IN ({', '.join(['?'] * len(chunk))})",
                        (when, note, issue, *chunk),
                    )
            for chunk in _chunks(list(papers.items()), SENT_PAPERS_ROWS):
                execute(
                    "INSERT INTO sent_papers (email, paper_id, issue, sent_at) "
                    f"VALUES {value_rows(len(chunk), 4)} "
                    "ON CONFLICT (email, paper_id) DO UPDATE "
                    "SET issue = excluded.issue, sent_at = excluded.sent_at",
                    tuple(v for (email, pid), (issue, when) in chunk for v in (email, pid, issue, when)),
                )

    def mark_failed(self, issue: str, email: str, error: str) -> None:
        """Not delivered this time; the next run tries again."""
        self.write(
            "UPDATE deliveries SET status = 'failed', error = ? WHERE issue = ? AND email = ?",
            (error, issue, email.lower()),
        )

    def mark_bounced(self, issue: str, email: str, code: int, reason: str) -> None:
        """The server refused the address for good: no more mail to it until the bounce is
        cleared (`digest bounces --clear`)."""
        with self.transaction() as execute:
            execute(
                "UPDATE deliveries SET status = 'failed', error = ? WHERE issue = ? AND email = ?",
                (f"bounced: {reason}", issue, email.lower()),
            )
            execute(
                """INSERT INTO bounces (email, code, reason, issue, at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (email) DO UPDATE SET code = excluded.code, reason = excluded.reason,
                   issue = excluded.issue, at = excluded.at""",
                (email.lower(), code, reason, issue, now_text()),
            )

    def record_bounce(self, email: str, code: int | None, reason: str, issue: str | None) -> None:
        """A bounce that came back after the server took the message (a delivery report):
        the address is not mailed again until cleared; the ledger's rows stay as they are."""
        self.write(
            """INSERT INTO bounces (email, code, reason, issue, at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (email) DO UPDATE SET code = excluded.code, reason = excluded.reason,
               issue = excluded.issue, at = excluded.at""",
            (address_key(email), code, reason, issue, now_text()),
        )

    def bounced(self) -> dict[str, str]:
        """Every bounced address (lower case) and why."""
        return dict(self.read("SELECT email, reason FROM bounces"))

    def bounces(self) -> list[Bounce]:
        rows = self.read("SELECT email, code, reason, issue, at FROM bounces ORDER BY at, email")
        return [Bounce(*row) for row in rows]

    def clear_bounce(self, email: str) -> bool:
        """Forget a bounce, so the address is mailed again; False if it had none."""
        return bool(self.write("DELETE FROM bounces WHERE email = ?", (address_key(email),)))

    def last_sent(self) -> dict[str, LastSent]:
        """The latest issue each reader (lower case) has received and when the last went out;
        issue ids are ISO dates and times are written in one UTC form, so both sort as text.
        One query for the whole ledger: per reader it would scan the table each time."""
        rows = self.read(
            "SELECT email, MAX(issue), MAX(sent_at) FROM deliveries WHERE status = 'sent' GROUP BY email"
        )
        return {
            email: LastSent(issue, datetime.fromisoformat(at) if at else None) for email, issue, at in rows
        }

    def seen_readers(self) -> dict[str, datetime]:
        """When a run first saw each reader (lower case): one query for the whole list."""
        rows = self.read("SELECT email, first_seen FROM readers_seen")
        return {email: datetime.fromisoformat(at) for email, at in rows}

    def mark_seen(self, emails: Iterable[str], at: datetime) -> None:
        """Readers seen for the first time at `at`; one seen before keeps its first time."""
        when = at.astimezone(UTC).isoformat(timespec="seconds")
        rows = [(email.lower(), when) for email in emails]
        # A thousand rows a statement: a first run over a 100,000-reader list is then 100
        # round trips to PostgreSQL, not 100,000 (17 s of them, measured).
        with self.transaction() as execute:
            for start in range(0, len(rows), SEEN_ROWS):
                chunk = rows[start : start + SEEN_ROWS]
                execute(
                    f"INSERT INTO readers_seen (email, first_seen) VALUES {value_rows(len(chunk), 2)} "
                    "ON CONFLICT (email) DO NOTHING",
                    tuple(value for row in chunk for value in row),
                )

    def nothing_new(self, issue: str) -> dict[str, str]:
        """Reader -> what `issue` was built from when it held nothing new for them."""
        return dict(self.read("SELECT email, built_from FROM nothing_new WHERE issue = ?", (issue,)))

    def mark_nothing_new(self, issue: str, email: str, built_from: str) -> None:
        self.write(
            """INSERT INTO nothing_new (issue, email, built_from, at) VALUES (?, ?, ?, ?)
               ON CONFLICT (issue, email) DO UPDATE SET built_from = excluded.built_from, at = excluded.at""",
            (issue, email.lower(), built_from, now_text()),
        )

    def papers_sent(self, email: str, *, except_issue: str, since: str | None = None) -> frozenset[str]:
        """Version-less ids of papers this reader got in other issues (a resend of this issue
        keeps them), in issues from `since` (an issue id, i.e. a date) on when given."""
        query = "SELECT paper_id FROM sent_papers WHERE email = ? AND issue <> ?"
        params: tuple[str, ...] = (email.lower(), except_issue)
        if since is not None:
            query += " AND issue >= ?"
            params += (since,)
        return frozenset(pid for (pid,) in self.read(query, params))

    # --- papers' engagement over time (digest/issue/signals.py) ----------------------------------------

    def record_signals(
        self, day: str, rows: Iterable[tuple[str, int | None, int | None, int | None]]
    ) -> None:
        """(paper id, upvotes, comments, stars) as a source said them on `day`: one row per paper
        per day, the day's last word kept. Written in chunks of one statement each."""
        rows = [row for row in rows if any(v is not None for v in row[1:])]
        with self.transaction() as execute:
            for start in range(0, len(rows), SIGNAL_ROWS):
                chunk = rows[start : start + SIGNAL_ROWS]
                execute(
                    f"INSERT INTO paper_signals (paper_id, day, upvotes, comments, stars) "
                    f"VALUES {value_rows(len(chunk), 5)} "
                    "ON CONFLICT (paper_id, day) DO UPDATE SET upvotes = excluded.upvotes, "
                    "comments = excluded.comments, stars = excluded.stars",
                    tuple(v for pid, up, com, stars in chunk for v in (pid, day, up, com, stars)),
                )

    def signals_before(
        self, day: str, paper_ids: Iterable[str]
    ) -> dict[str, tuple[str, int | None, int | None, int | None]]:
        """Each paper's latest snapshot from a day before `day`: paper id -> (day, upvotes,
        comments, stars); papers never seen before are left out."""
        ids = list(dict.fromkeys(paper_ids))
        found: dict[str, tuple[str, int | None, int | None, int | None]] = {}
        for start in range(0, len(ids), SIGNAL_ROWS):
            chunk = ids[start : start + SIGNAL_ROWS]
            marks = ", ".join(["?"] * len(chunk))
            for pid, seen, up, com, stars in self.read(
                "SELECT paper_id, day, upvotes, comments, stars FROM paper_signals "
                f"WHERE day < ? AND paper_id IN ({marks}) ORDER BY paper_id, day",
                (day, *chunk),
            ):
                found[pid] = (seen, up, com, stars)  # the latest day comes last
        return found

    def mark_empty_day(self, day: str, said: str) -> None:
        self.write(
            """INSERT INTO empty_days (day, said, at) VALUES (?, ?, ?)
               ON CONFLICT (day) DO UPDATE SET said = excluded.said""",
            (day, said, now_text()),
        )

    def empty_days(self, first: str, last: str) -> dict[str, str]:
        """Days from `first` to `last` (ISO dates, both included) no source listed a paper on."""
        return dict(self.read("SELECT day, said FROM empty_days WHERE day >= ? AND day <= ?", (first, last)))

    # --- each reader's private feed (digest/web/reader_feed.py) ---------------------------------------

    def feed_key(self, email: str, *, renew: bool = False) -> str:
        """The key of the reader's feed URL, made on first use; `renew` replaces it (the old
        URL stops working)."""
        email = email.lower()
        with self.transaction() as execute:
            row = execute("SELECT key FROM reader_feeds WHERE email = ?", (email,)).fetchone()
            if row is not None and not renew:
                return str(row[0])
            key = secrets.token_hex(12)  # lower case: a signed token keeps the payload lowercased
            execute(
                """INSERT INTO reader_feeds (email, key, made) VALUES (?, ?, ?)
                   ON CONFLICT (email) DO UPDATE SET key = excluded.key, made = excluded.made""",
                (email, key, now_text()),
            )
            return key

    def current_feed_key(self, email: str) -> str | None:
        row = self.one("SELECT key FROM reader_feeds WHERE email = ?", (email.lower(),))
        return str(row[0]) if row else None

    def issues_sent(self, email: str, limit: int) -> list[SentIssue]:
        """The reader's latest `limit` issues that went out, newest first, with their papers."""
        email = email.lower()
        issues = self.read(
            "SELECT issue, sent_at FROM deliveries WHERE email = ? AND status = 'sent' "
            "ORDER BY issue DESC LIMIT ?",
            (email, limit),
        )
        if not issues:
            return []
        marks = ", ".join(["?"] * len(issues))
        papers: dict[str, list[tuple[str, str, str | None, str]]] = {}
        for issue, pid, title, url, abstract in self.read(
            "SELECT s.issue, s.paper_id, p.title, p.url, p.abstract FROM sent_papers s "
            f"LEFT JOIN papers p ON p.id = s.paper_id WHERE s.email = ? AND s.issue IN ({marks}) "
            "ORDER BY s.issue, s.paper_id",
            (email, *(issue for issue, _ in issues)),
        ):
            papers.setdefault(issue, []).append((pid, title or pid, url, abstract or ""))
        return [SentIssue(issue, sent_at or "", papers.get(issue, [])) for issue, sent_at in issues]

    # --- readers' own papers: library, feedback, profiles ---------------------------------------

    def remember_papers(self, papers: Iterable[tuple[str, str, str, str | None]]) -> None:
        """(id, title, abstract, url) of papers going out in an issue: the feedback page shows
        them, and the profiles of readers who mark them read their text."""
        now = now_text()
        with self.transaction() as execute:
            for pid, title, abstract, url in papers:
                execute(
                    """INSERT INTO papers (id, title, abstract, url, seen) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                       abstract = excluded.abstract, url = excluded.url, seen = excluded.seen""",
                    (pid, title, abstract, url, now),
                )

    def paper(self, paper_id: str) -> tuple[str, str, str | None] | None:
        """(title, abstract, url) of a paper that went out, or one looked up for a library."""
        row = self.one("SELECT title, abstract, url FROM papers WHERE id = ?", (paper_id,))
        return (row[0], row[1], row[2]) if row else None

    def set_library(self, email: str, entries: Iterable[tuple[str, str, str]]) -> int:
        """Replace the reader's library with (paper id, title, abstract) entries; how many."""
        key, now = address_key(email), now_text()
        with self.transaction() as execute:
            execute("DELETE FROM library WHERE email = ?", (key,))
            n = 0
            for pid, title, abstract in entries:
                execute(
                    """INSERT INTO library (email, paper_id, title, abstract, added) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (email, paper_id) DO NOTHING""",
                    (key, pid, title, abstract, now),
                )
                n += 1
            self._stale(execute, key)
        return n

    def library(self, email: str) -> list[tuple[str, str, str]]:
        return [
            (pid, title, abstract)
            for pid, title, abstract in self.read(
                "SELECT paper_id, title, abstract FROM library WHERE email = ? ORDER BY added, paper_id",
                (address_key(email),),
            )
        ]

    def record_feedback(self, email: str, paper_id: str, vote: int) -> None:
        """A reader's "more like this" (1) or "less like this" (-1); the latest one counts."""
        key = address_key(email)
        with self.transaction() as execute:
            execute(
                """INSERT INTO feedback (email, paper_id, vote, at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (email, paper_id) DO UPDATE SET vote = excluded.vote, at = excluded.at""",
                (key, paper_id, vote, now_text()),
            )
            self._stale(execute, key)

    def feedback(self, email: str) -> list[tuple[str, int, str, str]]:
        """(paper id, vote, title, abstract) of each paper the reader marked, oldest first."""
        return [
            (pid, int(vote), title or "", abstract or "")
            for pid, vote, title, abstract in self.read(
                """SELECT f.paper_id, f.vote, p.title, p.abstract FROM feedback f
                   LEFT JOIN papers p ON p.id = f.paper_id WHERE f.email = ? ORDER BY f.at, f.paper_id""",
                (address_key(email),),
            )
        ]

    def profile(self, email: str) -> tuple[str | None, str | None] | None:
        """(source, data) of the reader's stored profile; None if they have none."""
        row = self.one("SELECT source, data FROM profiles WHERE email = ?", (address_key(email),))
        return (row[0], row[1]) if row else None

    def store_profile(self, email: str, source: str, data: str) -> None:
        self.write(
            """INSERT INTO profiles (email, source, data, updated) VALUES (?, ?, ?, ?)
               ON CONFLICT (email) DO UPDATE SET source = excluded.source, data = excluded.data,
               updated = excluded.updated""",
            (address_key(email), source, data, now_text()),
        )

    @staticmethod
    def _stale(execute: Execute, key: str) -> None:
        """The reader's profile no longer says what their papers say: made again when next used."""
        execute(
            """INSERT INTO profiles (email, source, data, updated) VALUES (?, NULL, NULL, ?)
               ON CONFLICT (email) DO UPDATE SET source = NULL, data = NULL, updated = excluded.updated""",
            (key, now_text()),
        )

    # --- TL;DRs from a summaries endpoint ---------------------------------------------------

    def tldrs(self, model: str, keys: Iterable[tuple[str, str]]) -> dict[str, str]:
        """paper id -> the TL;DR `model` wrote for it, of each (paper id, text hash) it has one for."""
        wanted = dict(keys)
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = self.read(
            f"SELECT paper_id, text_hash, tldr FROM summaries WHERE model = ? AND paper_id IN ({marks})",
            (model, *wanted),
        )
        return {pid: tldr for pid, text_hash, tldr in rows if wanted[pid] == text_hash}

    def store_tldr(self, paper_id: str, model: str, text_hash: str, tldr: str) -> None:
        self.write(
            """INSERT INTO summaries (paper_id, model, text_hash, tldr, written) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (paper_id, model, text_hash) DO UPDATE SET tldr = excluded.tldr,
               written = excluded.written""",
            (paper_id, model, text_hash, tldr, now_text()),
        )

    # --- web: rate limits --------------------------------------------------------------------

    def allow(self, bucket: str, key: str, *, now: float, window: float, limit: int) -> bool:
        """Count one event for `key`; False (and not counted) if `limit` events already
        happened within `window` seconds before `now`."""
        return self.admit(bucket, key, now=now, window=window, limit=limit) is None

    def admit(self, bucket: str, key: str, *, now: float, window: float, limit: int) -> float | None:
        """`allow`, saying how long a refused caller must wait: None when the event is counted,
        else the seconds until the limiter admits `key` again (an HTTP 429's Retry-After)."""
        with self.transaction() as execute:
            self._lock_address(execute, f"rate:{bucket}:{key}")
            execute("DELETE FROM rate_events WHERE bucket = ? AND at <= ?", (bucket, now - window))
            (count,) = execute(
                "SELECT COUNT(*) FROM rate_events WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            if count >= limit:
                # Room comes back when the event that puts the count at the limit leaves the window.
                (at,) = execute(
                    "SELECT at FROM rate_events WHERE bucket = ? AND key = ? ORDER BY at LIMIT 1 OFFSET ?",
                    (bucket, key, count - limit),
                ).fetchone()
                return max(at + window - now, 0.0)
            execute("INSERT INTO rate_events (bucket, key, at) VALUES (?, ?, ?)", (bucket, key, now))
            return None

    # --- HTTP cache ------------------------------------------------------------------------------

    def http_cache(self, *, readonly: bool = False) -> SqlHttpCache:
        return SqlHttpCache(self, readonly=readonly)

    # --- the subscriber list, as a table ---------------------------------------------------------

    def subscriber_table(self, topics: Topics | None = None, zone: str | None = None) -> SubscriberTable:
        return SubscriberTable(self, topics, zone)


class SqlHttpCache:
    """An HttpCache (base.py) in the http_cache table. `readonly` (preview, dry runs) sends
    the validators it has but stores nothing; a cache that cannot be used turns itself off and
    says why in `problem`: fetching still works, only without conditional requests."""

    def __init__(self, db: SqlDatabase, *, readonly: bool = False):
        self.db = db
        self.readonly = readonly
        self.problem: str | None = None
        self._lock = threading.Lock()

    def _use(self, work: Callable[[], Any]) -> Any:
        if self.problem:
            return None
        try:
            return work()
        except Exception as exc:  # a full disk, a locked file, a lost server: fetch without it
            from ..errors import DigestError

            reason = "; ".join(exc.problems) if isinstance(exc, DigestError) else str(exc)
            with self._lock:
                self.problem = self.problem or f"{self.db.where}: HTTP cache off for this run ({reason})"
            return None

    def get(self, url: str) -> CachedResponse | None:
        row = self._use(
            lambda: self.db.one("SELECT etag, last_modified, body FROM http_cache WHERE url = ?", (url,))
        )
        return CachedResponse(row[0], row[1], bytes(row[2])) if row else None

    def put(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        self._write(
            """INSERT INTO http_cache (url, etag, last_modified, body, stored_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,
               last_modified = excluded.last_modified, body = excluded.body,
               stored_at = excluded.stored_at""",
            (url, etag, last_modified, body, now_text()),
        )

    def touch(self, url: str) -> None:
        """Mark an entry as still in use (its server just answered 304)."""
        self._write("UPDATE http_cache SET stored_at = ? WHERE url = ?", (now_text(), url))

    def _write(self, sql: str, args: tuple) -> None:
        if self.readonly:
            return
        # Dated URLs (one HF listing per day) are never asked for again after a while:
        # forget entries unused for KEEP_DAYS, or the table grows by a listing a day.
        cutoff = (datetime.now(UTC) - timedelta(days=HTTP_CACHE_KEEP_DAYS)).isoformat(timespec="seconds")

        def write() -> None:
            with self.db.transaction() as execute:
                execute(sql, args)
                execute("DELETE FROM http_cache WHERE stored_at < ?", (cutoff,))

        self._use(write)

    def close(self) -> None:
        pass  # the database's connections are the store's to close


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


class SubscriberTable:
    """A SubscriberStore (base.py) in the `subscribers` table (`subscribers: database`)."""

    def __init__(self, db: SqlDatabase, topics: Topics | None = None, zone: str | None = None):
        self.zone = zone  # the newsletter's: a new row without `timezone` gets it
        self.db = db
        self.topics = topics
        self.where = f"the subscriber table in {db.where}"

    @staticmethod
    def _reader(row: tuple) -> Subscriber:
        # Rows were validated when they were written: build them without validating again
        # (a 100,000-reader list is read on every `send --due`).
        # Every field is given: a default_factory left to pydantic costs an inspect.signature()
        # per field and row (50 times the rest of the work).
        address, name, status, frequency, send_at, timezone, prefs, created, confirmed, left = row[:10]
        given = json.loads(prefs)
        return Subscriber.model_construct(
            email=address,
            name=name,
            status=status,
            frequency=frequency,
            send_at=send_at,
            timezone=timezone,
            **{key: given.get(key, []) for key in LIST_FIELDS},
            max_papers=given.get("max_papers"),
            library=given.get("library"),
            created=_time(created),
            confirmed=_time(confirmed),
            unsubscribed=_time(left),
        )

    @staticmethod
    def _row(reader: Subscriber) -> tuple:
        prefs: dict[str, Any] = {k: getattr(reader, k) for k in LIST_FIELDS if getattr(reader, k)}
        if reader.max_papers is not None:
            prefs["max_papers"] = reader.max_papers
        if reader.library is not None:
            prefs["library"] = reader.library
        return (
            str(reader.email),
            reader.name,
            reader.status,
            reader.frequency,
            reader.send_at,
            reader.timezone,
            json.dumps(prefs, ensure_ascii=False),
            _text(reader.created),
            _text(reader.confirmed),
            _text(reader.unsubscribed),
        )

    def problems(self, *, thorough: bool = False) -> list[str]:
        """Every row was checked when it was written; `thorough` checks them again (the
        taxonomy a reader's topics name may have changed since)."""
        if not thorough:
            return []
        problems: list[str] = []
        for reader in self.readers():
            try:
                validated(reader.model_dump(exclude_none=True), self.topics)
            except DigestError as exc:
                problems.extend(f"{self.where}: {reader.email}: {p}" for p in exc.problems)
        return problems

    def readers(self) -> Iterator[Subscriber]:
        """Every entry in the order they were added, a page at a time: no query stays open
        (the run writes the ledger meanwhile) and the list is never held."""
        last: tuple[int, str] = (-1, "")
        while True:
            rows = self.db.read(
                # A row value, so both engines walk the (seq, email) index from where the last
                # page ended: each page costs its own rows, not a scan of the table.
                f"SELECT {ROW} FROM subscribers WHERE (seq, email) > (?, ?) ORDER BY seq, email LIMIT {PAGE}",
                last,
            )
            for row in rows:
                yield self._reader(row)
            if len(rows) < PAGE:
                return
            last = (rows[-1][10], rows[-1][11])

    def find(self, email: str) -> Subscriber | None:
        row = self.db.one(f"SELECT {ROW} FROM subscribers WHERE email = ?", (address_key(email),))
        return self._reader(row) if row else None

    def count(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM subscribers")
        return int(row[0]) if row else 0

    def apply(self, email: str, event: Event, *, now: datetime) -> Change:
        with self.db.transaction() as execute:
            change = self._apply(execute, email, event, now)
        if change.outcome is Outcome.NOT_LISTED:
            raise NotListed(f"{email} is not on the list ({self.where})")
        return change

    def apply_all(
        self,
        changes: Iterable[tuple[str, Event]],
        *,
        now: datetime,
        each: Callable[[Change], None] | None = None,
    ) -> None:
        """Many changes in one transaction: all of them, or none if one is refused. `each`
        hears every change's outcome."""
        with self.db.transaction() as execute:
            for email, event in changes:
                change = self._apply(execute, email, event, now)
                if each is not None:
                    each(change)

    def _apply(self, execute: Execute, email: str, event: Event, now: datetime) -> Change:
        key = address_key(email)
        self.db._lock_address(execute, key)
        row = execute(f"SELECT {ROW} FROM subscribers WHERE email = ?", (key,)).fetchone()
        before = self._reader(row) if row else None
        decision = decide(before, event, now)
        if not decision.writes(before):
            return Change(before, before, decision.outcome, decision.reason)
        result = after(before, email, decision, self.topics, self.zone)
        updated = datetime.now(UTC).isoformat(timespec="microseconds")
        values = self._row(result)
        if before is None:
            execute(
                f"""INSERT INTO subscribers ({ROW}, updated)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                            (SELECT COALESCE(MAX(seq), 0) + 1 FROM subscribers), ?, ?)""",
                (*values, address_key(result.email), updated),
            )
        else:
            execute(
                """UPDATE subscribers SET address = ?, name = ?, status = ?, frequency = ?, send_at = ?,
                   timezone = ?, prefs = ?, created = ?, confirmed = ?, unsubscribed = ?, updated = ?
                   WHERE email = ?""",
                (*values, updated, key),
            )
        return Change(before, result, decision.outcome, decision.reason)

    def signature(self) -> object:
        return self.db.one("SELECT COUNT(*), MAX(updated) FROM subscribers")

    def close(self) -> None:
        pass


def check_version(found: int, where: str, *, upgrade_hint: str) -> None:
    """A database whose schema this digest does not know (made by a newer one) is refused."""
    from ..errors import DigestError

    if found > LATEST:
        raise DigestError(
            f"{where}: the database is at schema version {found}, newer than this digest knows "
            f"({LATEST}); upgrade digest on this machine"
        )
    if found < LATEST:
        raise DigestError(f"{where}: the database is at schema version {found} of {LATEST}; {upgrade_hint}")


@contextmanager
def nothing() -> Iterator[None]:
    yield
