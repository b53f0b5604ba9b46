"""SQLite state: the send ledger, bounces and each reader's history of papers.

One ledger row per (issue, reader): `claimed` before delivery, `sent` once the backend has
accepted the message, `failed` when it could not be delivered this time. A run killed in
between leaves `claimed` rows; the next run delivers them again (only what was in flight may
go twice) and skips every `sent` row.

Each claim names the run that made it, and a run holds a lock file for as long as it lives
(`Run`): a second run at the same time skips the rows a live run holds and takes over those of
a dead one. No lease times out, so a slow run never loses a row it is still sending.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .errors import DigestError

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    issue       TEXT NOT NULL,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')),
    message_id  TEXT,
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    error       TEXT,
    owner       TEXT,  -- the Run that claimed the row (see Run)
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


# --- bounces (issue 6) ----------------------------------------------------------------------
# An address the server refused for good (a 5xx reply to RCPT or DATA) is never mailed again
# until the bounce is cleared. subscribers.yaml may say `status: bounced` too; either stops mail.
SCHEMA += """
CREATE TABLE IF NOT EXISTS bounces (
    email   TEXT PRIMARY KEY,
    code    INTEGER,
    reason  TEXT NOT NULL,
    issue   TEXT,
    at      TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Bounce:
    email: str
    code: int | None
    reason: str
    issue: str | None
    at: str


def _add_owner_column(db: sqlite3.Connection) -> None:
    """State files from before claims named their run get the column (empty: such claims
    are taken over as stale)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    if "owner" not in columns:
        try:
            db.execute("ALTER TABLE deliveries ADD COLUMN owner TEXT")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def _use_wal(db: sqlite3.Connection, wait: float = 30.0) -> None:
    """Switch a state file to WAL. Two runs opening a new file at once: the switch answers
    "database is locked" at once, without waiting as other statements do, so wait here."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _open_rw(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (or create) a state file for writing, with every table. The ledger and the HTTP
    cache open it the same way: a file first made by `digest fetch` must still open read-only
    for preview and dry runs, ledger tables and all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, check_same_thread=check_same_thread)
    _use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    _add_owner_column(db)
    return db


def _has(db: sqlite3.Connection, table: str) -> bool:
    """Whether a table exists: a read-only state file may predate it."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        try:
            if readonly and path.exists():
                self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                self.db.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # reads the file's header
            elif readonly:  # nothing sent yet: an empty history
                self.db = sqlite3.connect(":memory:")
                self.db.executescript(SCHEMA)
            else:
                self.db = _open_rw(path)
        except sqlite3.DatabaseError as exc:  # not SQLite, a folder, unreadable
            raise DigestError(
                f"{path}: cannot use it as the state database ({exc}); point state: in digest.yaml "
                "at the SQLite file digest keeps, or at a new path to start afresh"
            ) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ledger (issue 6) -------------------------------------------------------------------

    def sent_to(self, issue: str) -> set[str]:
        """Everyone this issue has been delivered to (lower case)."""
        rows = self.db.execute("SELECT email FROM deliveries WHERE issue = ? AND status = 'sent'", (issue,))
        return {email for (email,) in rows}

    def claim(self, issue: str, email: str, message_id: str, run: Run | None = None) -> str:
        """Take the row for delivery: "claimed" (it is `run`'s now), "sent" (someone already
        delivered it) or "busy" (another live run holds it). A row claimed by a run that is
        gone, or that failed last time, is taken."""
        owner = run.id if run else None
        stale: str | None = None
        for _ in range(3):  # claim, and once more after finding its holder dead
            with self.db:
                taken = self.db.execute(
                    """INSERT INTO deliveries (issue, email, status, message_id, claimed_at, owner)
                       VALUES (:issue, :email, 'claimed', :mid, :now, :owner)
                       ON CONFLICT (issue, email) DO UPDATE
                       SET status = 'claimed', message_id = excluded.message_id,
                           claimed_at = excluded.claimed_at, owner = excluded.owner, error = NULL
                       WHERE deliveries.status = 'failed'
                          OR (deliveries.status = 'claimed'
                              AND (deliveries.owner IS NULL OR deliveries.owner = :stale))""",
                    {
                        "issue": issue,
                        "email": email.lower(),
                        "mid": message_id,
                        "now": _now(),
                        "owner": owner,
                        "stale": stale,
                    },
                ).rowcount
            if taken:
                return "claimed"
            row = self.db.execute(
                "SELECT status, owner FROM deliveries WHERE issue = ? AND email = ?", (issue, email.lower())
            ).fetchone()
            if row is None:
                continue
            status, holder = row
            if status == "sent":
                return "sent"
            if holder == owner or Run.alive(self.path, holder):
                return "busy"
            stale = holder
        return "busy"

    def mark_sent(self, issue: str, email: str, paper_ids: Iterable[str], *, note: str | None = None) -> None:
        """Record the delivery and the papers it carried, in one transaction. `note` keeps a
        doubt about it in `error` ("uncertain: ...": sent, but the server never said it took
        it): the row is sent all the same, so no run sends it again."""
        now = _now()
        with self.db:
            self.db.execute(
                """UPDATE deliveries SET status = 'sent', sent_at = ?, error = ?
                   WHERE issue = ? AND email = ?""",
                (now, note, issue, email.lower()),
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
        """Not delivered this time; the next run tries again."""
        with self.db:
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', error = ? WHERE issue = ? AND email = ?",
                (error, issue, email.lower()),
            )

    def mark_bounced(self, issue: str, email: str, code: int, reason: str) -> None:
        """The server refused the address for good: no more mail to it until the bounce is
        cleared (`digest bounces --clear`)."""
        with self.db:
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', error = ? WHERE issue = ? AND email = ?",
                (f"bounced: {reason}", issue, email.lower()),
            )
            self.db.execute(
                """INSERT INTO bounces (email, code, reason, issue, at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (email) DO UPDATE SET code = excluded.code, reason = excluded.reason,
                   issue = excluded.issue, at = excluded.at""",
                (email.lower(), code, reason, issue, _now()),
            )

    def bounced(self) -> dict[str, str]:
        """Every bounced address (lower case) and why."""
        if not _has(self.db, "bounces"):  # a read-only state file from before bounces were kept
            return {}
        return dict(self.db.execute("SELECT email, reason FROM bounces").fetchall())

    def bounces(self) -> list[Bounce]:
        if not _has(self.db, "bounces"):
            return []
        rows = self.db.execute("SELECT email, code, reason, issue, at FROM bounces ORDER BY at, email")
        return [Bounce(*row) for row in rows]

    def clear_bounce(self, email: str) -> bool:
        """Forget a bounce, so the address is mailed again; False if it had none."""
        with self.db:
            return bool(self.db.execute("DELETE FROM bounces WHERE email = ?", (email.lower(),)).rowcount)

    def last_issues(self) -> dict[str, str]:
        """The latest issue each reader (lower case) has received; issue ids are ISO dates, so
        they sort. `send --due` never sends an issue older than this: a reader who got the 27th
        from an explicit `digest send`, or in their old time zone, is not sent the 26th after.
        One query for the whole ledger: per reader it would scan the table each time."""
        rows = self.db.execute(
            "SELECT email, MAX(issue) FROM deliveries WHERE status = 'sent' GROUP BY email"
        )
        return dict(rows.fetchall())

    # --- history ---------------------------------------------------------------------------

    def papers_sent(self, email: str, *, except_issue: str, since: str | None = None) -> frozenset[str]:
        """Version-less ids of papers this reader got in other issues (a resend of this issue
        keeps them), in issues from `since` (an issue id, i.e. a date) on when given."""
        query = "SELECT paper_id FROM sent_papers WHERE email = ? AND issue != ?"
        params: tuple[str, ...] = (email.lower(), except_issue)
        if since is not None:
            query += " AND issue >= ?"
            params += (since,)
        # Stored ids are version-less already: every source strips versions and mark_sent
        # stores paper.id.
        return frozenset(pid for (pid,) in self.db.execute(query, params))

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
SCHEMA += """
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
            if not _has(db, "http_cache"):
                db.close()  # a state file from before the cache existed
                return None
        else:
            db = _open_rw(self.path, check_same_thread=False)
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


class Run:
    """One send run's name in the ledger, alive exactly as long as its lock file is locked.

    The run creates `<state>.runs/<id>.lock` and holds an flock on it. The kernel drops the
    lock when the process ends, however it ends (SIGKILL included), so any other run can tell
    a live holder of a claim from a dead one without clocks, leases or process ids.
    """

    def __init__(self, state_path: Path):
        self.dir = runs_dir(state_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = f"{socket.gethostname().replace('/', '_')}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.dir / f"{self.id}.lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def alive(state_path: Path, run_id: str | None) -> bool:
        """Whether the run `run_id` still holds its lock. A run that finished removed its
        file; one that died left it unlocked, and is cleaned up here."""
        if not run_id or "/" in run_id:
            return False
        path = runs_dir(state_path) / f"{run_id}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            path.unlink(missing_ok=True)
            return False
        finally:
            os.close(fd)


def runs_dir(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".runs")
