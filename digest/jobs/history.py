"""The run history: every `send`, `schedule` slot and `inbox` run, recorded around the run.

    with history.recorded(config, "send", now=now) as record:
        report = send.run(config, now=now, ...)
        record.send(report)

The run itself knows nothing of this: the recorder writes a row when the run starts (so a
killed run shows as one that never ended), and on the way out its issue days, counts by
outcome, first errors (secrets redacted), exit status and machine; an exception is recorded as
the run's error and raised on. Then the operator hears of whatever went wrong (digest/jobs/watch.py).

The history is never a reason for a run to fail: a database that cannot take the row is
said on stderr, and the run goes on.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import EXIT_PARTIAL, EXIT_USAGE, DigestError

if TYPE_CHECKING:
    from ..config import Config
    from ..store.sql import SqlDatabase
    from .bounces import InboxReport
    from .send import SendReport

FIRST_ERRORS = 5  # errors kept per run: the first say what went wrong, the rest repeat it
ERROR_CHARS = 500


def redact(text: str) -> str:
    """`text` as the history keeps it: without any secret the running command's redaction
    knows (digest/util/output.py: the environment's secrets and those the configuration names), and
    without the password of a URL in it, whatever its source."""
    import re

    from ..util.output import MASK, Redactor, active, from_environment

    known = active()
    redactor = known if known.secrets else Redactor(from_environment(os.environ))  # outside a command
    return re.sub(r"(\w+://[^/\s:@]+):[^@\s/]+@", rf"\1:{MASK}@", redactor(text))[:ERROR_CHARS]


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class Outcome:
    """What a run did, as the history keeps it and the operator's checks read it."""

    issues: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exit: int = 0
    stopped: str = ""  # why it stopped early, or the exception that ended it
    owed: int = 0  # readers it tried to mail (sent, failed, bounced, uncertain, not reached)
    unsourced: list[str] = field(default_factory=list)  # issue days owed with no papers from any source
    source_days: list[tuple[str, str, str | None]] = field(default_factory=list)


def of_send(report: SendReport) -> Outcome:
    counts = {
        "sent": report.sent,
        "already_sent": report.skipped,
        "nothing_new": report.empty,
        "not_due": report.not_due,
        "busy": report.busy,
        "suppressed": report.suppressed,
        "retried": report.retried,
        "bounced": report.bounced,
        "failed": report.failed,
        "uncertain": report.uncertain,
        "not_reached": report.not_reached,
    }
    errors = ([f"stopped: {report.stopped}"] if report.stopped else []) + report.problems
    return Outcome(
        issues=list(report.issues),
        counts={k: v for k, v in counts.items() if v or k == "sent"},
        errors=[redact(e) for e in errors[:FIRST_ERRORS]],
        exit=130 if report.interrupted else report.exit_code,
        stopped=redact(report.stopped),
        owed=report.sent + report.failed + report.bounced + report.uncertain + report.not_reached,
        unsourced=list(report.unsourced),
        source_days=list(report.source_days),
    )


def of_inbox(report: InboxReport) -> Outcome:
    return Outcome(
        counts={str(k): int(v) for k, v in report.counts.items() if v} | {"messages": report.messages}
    )


class Recorder:
    """One run's row in the history; `send`/`inbox` give what it did before it ends."""

    def __init__(self, config: Config, kind: str, now: datetime, log: Callable[[str], None]):
        self.config = config
        self.kind = kind
        self.now = now
        self.log = log
        self.id = uuid.uuid4().hex
        self.outcome: Outcome | None = None
        self.db: SqlDatabase | None = None
        self.deferred = False
        self._started = time.perf_counter()

    def send(self, report: SendReport) -> None:
        self.outcome = of_send(report)

    def inbox(self, report: InboxReport) -> None:
        self.outcome = of_inbox(report)

    def _guard(self, what: str, work: Callable[[], object]) -> None:
        try:
            work()
        except DigestError as exc:
            self.log(f"warning: run history: could not {what}: {'; '.join(exc.problems)}")

    def start(self) -> None:
        where = self.config.state_at
        if where.engine == "sqlite" and where.path is not None and not where.path.exists():
            self.deferred = True  # written at the end: a run refused for its usage leaves no state file
            return
        self._guard("record the start of the run", self._begin)

    def _begin(self) -> None:
        from ..store import open_database

        self.db = open_database(self.config.state_at)
        host = f"{socket.gethostname()} pid {os.getpid()}"
        self.db.start_run(self.id, self.kind, utc_text(self.now), host)

    def end(self, exc: BaseException | None) -> Outcome:
        outcome = self.outcome
        if outcome is None:  # the run raised before it could say what it did
            if isinstance(exc, DigestError):
                errors, code = list(exc.problems), exc.exit_code
            elif isinstance(exc, KeyboardInterrupt):
                errors, code = ["interrupted"], 130
            elif exc is not None:
                errors, code = [f"{type(exc).__name__}: {exc}"], EXIT_PARTIAL
            else:
                errors, code = ["the run said nothing of what it did"], EXIT_USAGE
            errors = [redact(e) for e in errors[:FIRST_ERRORS]]
            outcome = Outcome(errors=errors, exit=code, stopped=errors[0] if errors else "")
        if self.deferred and outcome.exit != EXIT_USAGE:
            self._guard("record the run", self._begin)
        db = self.db
        if db is not None:
            ended = self.now + timedelta(seconds=time.perf_counter() - self._started)
            at = utc_text(self.now)

            def finish() -> None:
                db.end_run(
                    self.id,
                    ended=utc_text(ended),
                    issues=outcome.issues,
                    counts=outcome.counts,
                    errors=outcome.errors,
                    exit=outcome.exit,
                )
                for source, day, error in outcome.source_days:
                    db.record_source_day(source, day, redact(error) if error else None, at)
                db.forget_before(utc_text(self.now - timedelta(days=self.config.monitoring.keep_days)))

            self._guard("record the end of the run", finish)
        return outcome

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


@contextmanager
def recorded(
    config: Config, kind: str, *, now: datetime, log: Callable[[str], None] = _stderr
) -> Iterator[Recorder]:
    """Record the run inside the block; then tell the operator what went wrong (watch.py)."""
    from . import watch

    recorder = Recorder(config, kind, now, log)
    recorder.start()
    try:
        try:
            yield recorder
        except BaseException as exc:
            outcome = recorder.end(exc)
            if recorder.db is not None and not isinstance(exc, KeyboardInterrupt):
                watch.after_run(config, recorder.db, kind, recorder.id, outcome, now=now, log=log)
            raise
        outcome = recorder.end(None)
        if recorder.db is not None:
            watch.after_run(config, recorder.db, kind, recorder.id, outcome, now=now, log=log)
    finally:
        recorder.close()


class _Unrecorded:
    def send(self, report: SendReport) -> None:
        pass

    def inbox(self, report: InboxReport) -> None:
        pass


@contextmanager
def unrecorded() -> Iterator[_Unrecorded]:
    """For dry runs, which record nothing."""
    yield _Unrecorded()
