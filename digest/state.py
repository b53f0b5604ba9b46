"""SQLite state: the send ledger and each reader's history of papers.

One ledger row per (issue, reader): `claimed` before delivery, `sent` once the backend has
accepted the message. A run killed in between leaves `claimed` rows; the next run delivers
them again (only what was in flight may go twice) and skips every `sent` row.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .locks import file_lock
from .models import arxiv_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    issue       TEXT NOT NULL,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')),
    message_id  TEXT,
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    error       TEXT,
    PRIMARY KEY (issue, email)
);
CREATE TABLE IF NOT EXISTS sent_papers (
    email     TEXT NOT NULL,
    paper_id  TEXT NOT NULL,
    issue     TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
);
"""


# --- web: rate limits (digest serve) -------------------------------------------------------
# Kept here rather than in the web process's memory so limits hold across restarts and across
# several server processes. Keys are HMACs of the address or IP (digest/web.py), not the
# values themselves.
SCHEMA += """
CREATE TABLE IF NOT EXISTS rate_events (
    bucket  TEXT NOT NULL,
    key     TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_events_by_key ON rate_events (bucket, key, at);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        if readonly and path.exists():
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        elif readonly:  # nothing sent yet: an empty history
            self.db = sqlite3.connect(":memory:")
            self.db.executescript(SCHEMA)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ledger ----------------------------------------------------------------------------

    def status(self, issue: str, email: str) -> str | None:
        row = self.db.execute(
            "SELECT status FROM deliveries WHERE issue = ? AND email = ?", (issue, email.lower())
        ).fetchone()
        return row[0] if row else None

    def claim(self, issue: str, email: str, message_id: str) -> None:
        with self.db:
            self.db.execute(
                """INSERT INTO deliveries (issue, email, status, message_id, claimed_at)
                   VALUES (?, ?, 'claimed', ?, ?)
                   ON CONFLICT (issue, email) DO UPDATE
                   SET status = 'claimed', claimed_at = excluded.claimed_at, error = NULL""",
                (issue, email.lower(), message_id, _now()),
            )

    def mark_sent(self, issue: str, email: str, paper_ids: Iterable[str]) -> None:
        """Record the delivery and the papers it carried, in one transaction."""
        now = _now()
        with self.db:
            self.db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ? WHERE issue = ? AND email = ?",
                (now, issue, email.lower()),
            )
            # One row per reader and paper: the last issue that carried it (a paper sent again
            # once the history window has passed moves its row forward).
            self.db.executemany(
                """INSERT INTO sent_papers (email, paper_id, issue, sent_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (email, paper_id) DO UPDATE
                   SET issue = excluded.issue, sent_at = excluded.sent_at""",
                [(email.lower(), pid, issue, now) for pid in paper_ids],
            )

    def mark_failed(self, issue: str, email: str, error: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', error = ? WHERE issue = ? AND email = ?",
                (error, issue, email.lower()),
            )

    def counts(self, issue: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE issue = ? GROUP BY status", (issue,)
        )
        return dict(rows.fetchall())

    def last_issue_sent(self, email: str) -> str | None:
        """The latest issue this reader has received (issue ids are ISO dates, so they sort).
        `send --due` never sends an issue older than this: a reader who got the 27th from
        an explicit `digest send`, or in their old time zone, is not sent the 26th after."""
        row = self.db.execute(
            "SELECT MAX(issue) FROM deliveries WHERE email = ? AND status = 'sent'", (email.lower(),)
        ).fetchone()
        return row[0] if row else None

    # --- history ---------------------------------------------------------------------------

    def papers_sent(self, email: str, *, except_issue: str, since: str | None = None) -> frozenset[str]:
        """Version-less ids of papers this reader got in other issues (a resend of this issue
        keeps them), in issues from `since` (an issue id, i.e. a date) on when given."""
        query = "SELECT paper_id FROM sent_papers WHERE email = ? AND issue != ?"
        params: tuple[str, ...] = (email.lower(), except_issue)
        if since is not None:
            query += " AND issue >= ?"
            params += (since,)
        return frozenset(arxiv_id(pid) or pid for (pid,) in self.db.execute(query, params))

    # --- web: rate limits ---------------------------------------------------------------------

    def allow(self, bucket: str, key: str, *, now: float, window: float, limit: int) -> bool:
        """Count one event for `key`; False (and not counted) if `limit` events already
        happened within `window` seconds before `now`."""
        with self.db:
            self.db.execute("DELETE FROM rate_events WHERE bucket = ? AND at <= ?", (bucket, now - window))
            (count,) = self.db.execute(
                "SELECT COUNT(*) FROM rate_events WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            if count >= limit:
                return False
            self.db.execute("INSERT INTO rate_events (bucket, key, at) VALUES (?, ?, ?)", (bucket, key, now))
            return True


# --- HTTP cache (fetch) -------------------------------------------------------------------
# Each URL's ETag / Last-Modified with the body they validate, so an unchanged feed costs a
# conditional request and a 304, and the papers still come from the body we kept.

HTTP_CACHE_KEEP_DAYS = 14
HTTP_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS http_cache (
    url            TEXT PRIMARY KEY,
    etag           TEXT,
    last_modified  TEXT,
    body           BLOB NOT NULL,
    stored_at      TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class CachedResponse:
    etag: str | None
    last_modified: str | None
    body: bytes


class HttpCache:
    """The http_cache table, shared by the fetch threads (one connection behind a lock).

    Opened on first use, so configurations without web sources never create a state file.
    `readonly` (preview, dry runs) sends the validators it has but stores nothing. A cache
    that cannot be opened or written (a read-only disk, a locked file) turns itself off and
    says why in `problem`: fetching still works, only without conditional requests."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        self.readonly = readonly
        self.problem: str | None = None
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self.problem:
            return self._db
        if self.readonly:
            if not self.path.exists():
                return None
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'http_cache'").fetchone():
                db.close()  # a state file from before the cache existed
                return None
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # The whole schema, not just ours: a state file first made by `digest fetch`
            # must still open read-only for preview and dry runs, ledger tables and all.
            db.executescript(SCHEMA + HTTP_CACHE_SCHEMA)
        self._db = db
        return db

    def _use(self, work):
        with self._lock:
            try:
                db = self._connect()
                return work(db) if db is not None else None
            except (sqlite3.Error, OSError) as exc:
                self.problem = f"{self.path}: HTTP cache off for this run ({exc})"
                return None

    def get(self, url: str) -> CachedResponse | None:
        row = self._use(
            lambda db: db.execute(
                "SELECT etag, last_modified, body FROM http_cache WHERE url = ?", (url,)
            ).fetchone()
        )
        return CachedResponse(row[0], row[1], bytes(row[2])) if row else None

    def put(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        self._write(
            """INSERT INTO http_cache (url, etag, last_modified, body, stored_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,
               last_modified = excluded.last_modified, body = excluded.body,
               stored_at = excluded.stored_at""",
            (url, etag, last_modified, body, _now()),
        )

    def touch(self, url: str) -> None:
        """Mark an entry as still in use (its server just answered 304)."""
        self._write("UPDATE http_cache SET stored_at = ? WHERE url = ?", (_now(), url))

    def _write(self, sql: str, args: tuple) -> None:
        if self.readonly:
            return
        # Dated URLs (one HF listing per day) are never asked for again after a while:
        # forget entries unused for KEEP_DAYS, or the file grows by a listing a day.
        cutoff = (datetime.now(UTC) - timedelta(days=HTTP_CACHE_KEEP_DAYS)).isoformat(timespec="seconds")

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(sql, args)
                db.execute("DELETE FROM http_cache WHERE stored_at < ?", (cutoff,))

        self._use(write)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@contextmanager
def run_lock(state_path: Path, *, wait: float = 600.0) -> Iterator[None]:
    """One send run at a time per state file. A second run waits for the first, then finds
    its readers already sent: cron overlapping itself never double-sends."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    with file_lock(lock_path, wait=wait, poll=0.2, taken=lambda p: TimeoutError(f"another send holds {p}")):
        yield
