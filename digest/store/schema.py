"""One schema for every engine, versioned. `digest db upgrade` applies what a database lacks;
SQLite files are upgraded by themselves when opened.

A migration is written once, in the SQL both SQLite and PostgreSQL speak; `for_engine` maps
the few type names that differ. Timestamps are ISO 8601 text in UTC, so they sort as text
on both engines and read back the same everywhere. A migration is never edited once it has
shipped: a change to the schema is a new one at the end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    says: str  # what it adds, as `digest db upgrade` reports it
    sql: str


VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    says        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
);
"""

MIGRATIONS = [
    Migration(
        1,
        "the send ledger, reading history, bounces, web rate limits and HTTP cache",
        """
CREATE TABLE IF NOT EXISTS deliveries (
    issue       TEXT NOT NULL,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')),
    message_id  TEXT,
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    error       TEXT,
    owner       TEXT,  -- the run that claimed the row (digest/store/base.py, Run)
    PRIMARY KEY (issue, email)
);
CREATE TABLE IF NOT EXISTS sent_papers (
    email     TEXT NOT NULL,
    paper_id  TEXT NOT NULL,
    issue     TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
);
-- digest serve's limits, kept in the database so they hold across restarts and processes.
-- Keys are HMACs of the address or IP (digest/web/app.py), not the values themselves.
CREATE TABLE IF NOT EXISTS rate_events (
    bucket  TEXT NOT NULL,
    key     TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_events_by_key ON rate_events (bucket, key, at);
-- An address the server refused for good (5xx to RCPT or DATA) is not mailed until cleared.
CREATE TABLE IF NOT EXISTS bounces (
    email   TEXT PRIMARY KEY,
    code    INTEGER,
    reason  TEXT NOT NULL,
    issue   TEXT,
    at      TEXT NOT NULL
);
-- Each URL's ETag / Last-Modified with the body they validate: an unchanged feed costs a 304.
CREATE TABLE IF NOT EXISTS http_cache (
    url            TEXT PRIMARY KEY,
    etag           TEXT,
    last_modified  TEXT,
    body           BLOB NOT NULL,
    stored_at      TEXT NOT NULL
);
""",
    ),
    Migration(
        2,
        "the subscriber list (subscribers: database)",
        """
CREATE TABLE subscribers (
    email         TEXT PRIMARY KEY,  -- lower case: one entry per address
    address       TEXT NOT NULL,     -- as the reader wrote it
    name          TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
    frequency     TEXT NOT NULL,
    send_at       TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    prefs         TEXT NOT NULL,     -- JSON: topics, keywords, authors, ... (models.Subscriber)
    created       TEXT,
    confirmed     TEXT,
    unsubscribed  TEXT,
    updated       TEXT NOT NULL,     -- microseconds: the scheduler watches it for changes
    seq           INTEGER NOT NULL   -- the order entries were added, as in a YAML list
);
CREATE INDEX subscribers_in_order ON subscribers (seq, email);
CREATE INDEX subscribers_by_update ON subscribers (updated);
""",
    ),
    Migration(
        3,
        "readers' libraries, feedback from the email, and the profiles made of them",
        """
-- Papers that went out in digests, kept for what readers do with them later: the feedback
-- page shows one, a reader's profile reads the text of those they marked.
CREATE TABLE papers (
    id        TEXT PRIMARY KEY,
    title     TEXT NOT NULL,
    abstract  TEXT NOT NULL,
    url       TEXT,
    seen      TEXT NOT NULL
);
-- A reader's own papers: a BibTeX file, a Zotero CSV export or a list of arXiv ids.
CREATE TABLE library (
    email     TEXT NOT NULL,
    paper_id  TEXT NOT NULL,
    title     TEXT NOT NULL,
    abstract  TEXT NOT NULL,
    added     TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
);
-- "More like this" (1) and "less like this" (-1), from the links in each digest.
CREATE TABLE feedback (
    email     TEXT NOT NULL,
    paper_id  TEXT NOT NULL,
    vote      INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    at        TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
);
-- Each reader's profile (digest/issue/similar.py), made from the two tables above and the file their
-- entry's `library:` names; `source` says what it was made from, NULL once that has changed.
CREATE TABLE profiles (
    email     TEXT PRIMARY KEY,
    source    TEXT,
    data      TEXT,
    updated   TEXT NOT NULL
);
""",
    ),
    Migration(
        4,
        "TL;DRs written by a summaries endpoint, kept so each is asked for once",
        """
-- One sentence per paper, model and text sent (digest/jobs/summaries.py): the same paper with the
-- same title and abstract is never asked for again, in this issue or a later one.
CREATE TABLE summaries (
    paper_id   TEXT NOT NULL,
    model      TEXT NOT NULL,
    text_hash  TEXT NOT NULL,  -- SHA-256 of the prompt's text
    tldr       TEXT NOT NULL,
    written    TEXT NOT NULL,
    PRIMARY KEY (paper_id, model, text_hash)
);
""",
    ),
    Migration(
        5,
        "when each reader was first seen, and issues that held nothing new for a reader",
        """
-- The first run that saw each reader (digest/readers/due.py): someone digest has never mailed starts
-- with their first send time after this, never with one that passed before it.
CREATE TABLE readers_seen (
    email       TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL
);
-- An issue built for a reader that held nothing new for them, and what it was built from (a
-- hash of the day's papers and one of the reader's entry): later runs skip the reader without
-- ranking again until the sources or the entry change.
CREATE TABLE nothing_new (
    issue       TEXT NOT NULL,
    email       TEXT NOT NULL,
    built_from  TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (issue, email)
);
""",
    ),
    Migration(
        6,
        "the run history, each source's days, and the reports sent to the operator",
        """
-- One row per `send`, `schedule` slot and `inbox` run (digest/jobs/history.py), kept for
-- monitoring.keep_days: `digest status` and the operator's reports read it.
CREATE TABLE runs (
    id        TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,     -- send, schedule, inbox
    started   TEXT NOT NULL,     -- the run's instant (--now when given), UTC
    ended     TEXT,              -- NULL while it runs, or if it was killed
    issues    TEXT NOT NULL,     -- the issue days it served, comma-separated
    counts    TEXT NOT NULL,     -- JSON: outcome -> number of readers
    errors    TEXT NOT NULL,     -- JSON: the first errors, secrets redacted
    exit      INTEGER,           -- the exit status it ended with
    host      TEXT NOT NULL      -- the machine and process
);
CREATE INDEX runs_by_start ON runs (started);
-- Whether each source answered for an issue day: a source failing N days running is reported.
CREATE TABLE source_days (
    source  TEXT NOT NULL,
    day     TEXT NOT NULL,
    ok      INTEGER NOT NULL,
    error   TEXT,
    at      TEXT NOT NULL,
    PRIMARY KEY (source, day)
);
-- Each problem reported to newsletter.operator, once a day; `sent` NULL until the backend took
-- it (a report written while the relay was down goes out with the next run that can send).
CREATE TABLE operator_reports (
    problem  TEXT NOT NULL,
    day      TEXT NOT NULL,
    line     TEXT NOT NULL,
    run      TEXT,
    created  TEXT NOT NULL,
    sent     TEXT,
    error    TEXT,
    PRIMARY KEY (problem, day)
);
""",
    ),
    Migration(
        7,
        "papers' signals a day, the days with no papers, and readers' private feed keys",
        """
-- What a source said of a paper's engagement, the last time each day it was asked: ranking
-- reads the growth since an earlier day's snapshot (digest/issue/signals.py). One row per paper per day.
CREATE TABLE paper_signals (
    paper_id  TEXT NOT NULL,
    day       TEXT NOT NULL,  -- the UTC date the source said it
    upvotes   INTEGER,
    comments  INTEGER,
    stars     INTEGER,
    PRIMARY KEY (paper_id, day)
);
-- A day every source answered and none listed a paper (a weekend on Hugging Face, a holiday):
-- the next issue opens with `said`, and the web archive shows the day with it.
CREATE TABLE empty_days (
    day   TEXT PRIMARY KEY,
    said  TEXT NOT NULL,
    at    TEXT NOT NULL
);
-- The key inside each reader's private feed URL (digest/web/reader_feed.py): a new key, made from
-- the preferences page, makes the old URL stop working.
CREATE TABLE reader_feeds (
    email  TEXT PRIMARY KEY,
    key    TEXT NOT NULL,
    made   TEXT NOT NULL
);
""",
    ),
]
LATEST = MIGRATIONS[-1].version


def for_engine(sql: str, engine: str) -> str:
    if engine == "postgresql":
        return sql.replace(" BLOB ", " BYTEA ").replace(" REAL ", " DOUBLE PRECISION ")
    return sql


def statements(sql: str) -> list[str]:
    """A migration's statements, one by one, without its comments (a `;` in a comment would
    otherwise cut a statement in two)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def pending(version: int) -> list[Migration]:
    return [m for m in MIGRATIONS if m.version > version]
