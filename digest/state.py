"""SQLite state: the send ledger and each reader's history of papers.

One ledger row per (issue, reader): `claimed` before delivery, `sent` once the backend has
accepted the message. A run killed in between leaves `claimed` rows; the next run delivers
them again (only what was in flight may go twice) and skips every `sent` row.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

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
            self.db.executemany(
                "INSERT OR IGNORE INTO sent_papers (email, paper_id, issue, sent_at) VALUES (?, ?, ?, ?)",
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

    # --- history ---------------------------------------------------------------------------

    def papers_sent(self, email: str, *, except_issue: str) -> frozenset[str]:
        """Ids of papers this reader got in other issues (a resend of this issue keeps them)."""
        rows = self.db.execute(
            "SELECT paper_id FROM sent_papers WHERE email = ? AND issue != ?",
            (email.lower(), except_issue),
        )
        return frozenset(r[0] for r in rows)


@contextmanager
def run_lock(state_path: Path, *, wait: float = 600.0) -> Iterator[None]:
    """One send run at a time per state file. A second run waits for the first, then finds
    its readers already sent: cron overlapping itself never double-sends."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another send holds {lock_path}") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
