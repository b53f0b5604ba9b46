"""The run history in SQL both engines speak (schema version 6): each run, each source's
issue days, and the problems reported to the operator. A mixin of SqlDatabase (sql.py), which
brings `read`, `one`, `write` and `transaction`.

Times are ISO 8601 text in UTC, given by the caller (the run's `--now`), so a rehearsed day
is recorded as that day and `digest status --now` reads it back the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunRow:
    id: str
    kind: str
    started: str
    ended: str | None
    issues: list[str]
    counts: dict[str, int]
    errors: list[str]
    exit: int | None
    host: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "started": self.started,
            "ended": self.ended,
            "issues": self.issues,
            "counts": self.counts,
            "errors": self.errors,
            "exit": self.exit,
            "host": self.host,
        }


@dataclass(frozen=True)
class SourceDay:
    source: str
    day: str
    ok: bool
    error: str | None


@dataclass(frozen=True)
class OperatorReport:
    problem: str  # a key: the same problem on the same day is reported once
    day: str
    line: str  # what the email says about it
    run: str | None
    created: str
    sent: str | None
    error: str | None  # why it has not gone out yet


RUN_COLUMNS = "id, kind, started, ended, issues, counts, errors, exit, host"
REPORT_COLUMNS = "problem, day, line, run, created, sent, error"


def _run(row: tuple) -> RunRow:
    rid, kind, started, ended, issues, counts, errors, code, host = row
    return RunRow(
        rid,
        kind,
        started,
        ended,
        [i for i in issues.split(",") if i],
        json.loads(counts),
        json.loads(errors),
        None if code is None else int(code),
        host,
    )


class RunHistory:
    """What `digest status`, the operator's reports and `/metrics` read (digest/jobs/history.py writes)."""

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        raise NotImplementedError  # SqlDatabase brings it

    def write(self, sql: str, params: tuple = ()) -> int:
        raise NotImplementedError  # SqlDatabase brings it

    def start_run(self, run_id: str, kind: str, started: str, host: str) -> None:
        self.write(
            "INSERT INTO runs (id, kind, started, issues, counts, errors, host) "
            "VALUES (?, ?, ?, '', '{}', '[]', ?)",
            (run_id, kind, started, host),
        )

    def end_run(
        self,
        run_id: str,
        *,
        ended: str,
        issues: Iterable[str],
        counts: dict[str, int],
        errors: list[str],
        exit: int,
    ) -> None:
        self.write(
            "UPDATE runs SET ended = ?, issues = ?, counts = ?, errors = ?, exit = ? WHERE id = ?",
            (ended, ",".join(issues), json.dumps(counts, sort_keys=True), json.dumps(errors), exit, run_id),
        )

    def runs(self, *, limit: int = 10, since: str = "") -> list[RunRow]:
        """The latest runs (those started from `since` on), newest first."""
        where, params = "WHERE started >= ?", (since,)
        rows = self.read(
            f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started DESC, id DESC LIMIT {int(limit)}",
            params,
        )
        return [_run(row) for row in rows]

    def forget_before(self, cutoff: str) -> None:
        """Runs, source days and reports older than `cutoff` (monitoring.keep_days)."""
        self.write("DELETE FROM runs WHERE started < ?", (cutoff,))
        self.write("DELETE FROM source_days WHERE at < ?", (cutoff,))
        self.write("DELETE FROM operator_reports WHERE created < ? AND sent IS NOT NULL", (cutoff,))

    def record_source_day(self, source: str, day: str, error: str | None, at: str) -> None:
        """A source's answer for an issue day; a later run's answer that day replaces it."""
        self.write(
            """INSERT INTO source_days (source, day, ok, error, at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (source, day) DO UPDATE SET ok = excluded.ok, error = excluded.error,
               at = excluded.at""",
            (source, day, int(error is None), error, at),
        )

    def source_days(self, *, since: str) -> list[SourceDay]:
        """Each source's answers for the issue days from `since` on, newest first."""
        rows = self.read(
            "SELECT source, day, ok, error FROM source_days WHERE day >= ? ORDER BY source, day DESC",
            (since,),
        )
        return [SourceDay(source, day, bool(ok), error) for source, day, ok, error in rows]

    def failing_days(self, source: str) -> int:
        """How many of the source's latest recorded days in a row it failed."""
        n = 0
        for (ok,) in self.read(
            "SELECT ok FROM source_days WHERE source = ? ORDER BY day DESC LIMIT 60", (source,)
        ):
            if ok:
                break
            n += 1
        return n

    def note_problem(self, problem: str, day: str, line: str, run: str | None, created: str) -> bool:
        """Keep a problem for the operator; False if it was already kept that day."""
        return bool(
            self.write(
                f"INSERT INTO operator_reports ({REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL) "
                "ON CONFLICT (problem, day) DO NOTHING",
                (problem, day, line, run, created),
            )
        )

    def unsent_reports(self) -> list[OperatorReport]:
        rows = self.read(
            f"SELECT {REPORT_COLUMNS} FROM operator_reports WHERE sent IS NULL ORDER BY created, day, problem"
        )
        return [OperatorReport(*row) for row in rows]

    def reports(self, *, since: str) -> list[OperatorReport]:
        rows = self.read(
            f"SELECT {REPORT_COLUMNS} FROM operator_reports WHERE created >= ? "
            "ORDER BY created, day, problem",
            (since,),
        )
        return [OperatorReport(*row) for row in rows]

    def mark_reports(self, keys: Iterable[tuple[str, str]], *, sent: str | None, error: str | None) -> None:
        for problem, day in keys:
            self.write(
                "UPDATE operator_reports SET sent = ?, error = ? WHERE problem = ? AND day = ?",
                (sent, error, problem, day),
            )

    def run_counts(self) -> list[tuple[str, str, int]]:
        """(kind, result, how many) of the runs in the history; result: ok, failed, unfinished
        (running, or killed)."""
        result = "CASE WHEN exit IS NULL THEN 'unfinished' WHEN exit = 0 THEN 'ok' ELSE 'failed' END"
        rows = self.read(f"SELECT kind, {result}, COUNT(*) FROM runs GROUP BY kind, {result} ORDER BY 1, 2")
        return [(kind, outcome, int(n)) for kind, outcome, n in rows]

    def latest_runs(self) -> dict[str, str]:
        return dict(self.read("SELECT kind, MAX(started) FROM runs GROUP BY kind"))

    def delivery_counts(self) -> dict[str, int]:
        """Ledger rows by status, for /metrics."""
        return {
            status: int(n)
            for status, n in self.read("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
        }

    def last_sent_at(self) -> str | None:
        rows = self.read("SELECT MAX(sent_at) FROM deliveries WHERE status = 'sent'")
        return rows[0][0] if rows and rows[0][0] else None

    def bounced_since(self, at: str) -> list[tuple[str, str, str]]:
        """(address, when, why) of bounces recorded from `at` on."""
        return [
            (e, w, r)
            for e, w, r in self.read("SELECT email, at, reason FROM bounces WHERE at >= ? ORDER BY at", (at,))
        ]
