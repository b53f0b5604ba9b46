"""One send run, top to bottom: readers -> the issue each is owed -> papers -> per reader:
pick, render, claim, deliver, record.

A reader already marked sent for this issue is skipped, so a rerun after a complete run
sends nothing and a rerun after a crash picks up where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from . import archive, sources, subscribers
from .build import Builder, issue_for, issue_id_for
from .config import Config
from .due import current as current_slot
from .due import today as local_issue
from .errors import EXIT_OK, EXIT_PARTIAL, DigestError
from .mail import DeliveryError, open_backend
from .models import Subscriber
from .state import State, run_lock


@dataclass
class SendReport:
    issues: list[str] = field(default_factory=list)  # the issues readers were owed this run
    sent: int = 0
    skipped: int = 0  # already had this issue
    empty: int = 0  # nothing new for them today
    not_due: int = 0  # --due: their send time has not come yet
    failed: int = 0
    dry_run: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    archived: str = ""  # the issues' web pages, when the archive is on

    @property
    def issue(self) -> str:
        return ", ".join(self.issues)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed or self.problems else EXIT_OK


def owed(readers: list[Subscriber], now: datetime, due: bool) -> tuple[list[tuple[Subscriber, str]], int]:
    """Which issue each reader is owed now, and how many are not due yet.

    Issues are dated in each reader's own time zone (why: digest/due.py). Without `due`,
    every reader is owed the issue of their local today.
    """
    plan = []
    for reader in readers:
        if not due:
            plan.append((reader, local_issue(reader, now)))
        elif (slot := current_slot(reader, now)) is not None:
            plan.append((reader, slot.issue))
    return plan, len(readers) - len(plan)


def run(
    config: Config,
    *,
    now: datetime,
    to: str | None = None,
    dry_run: bool = False,
    due: bool = False,
    log: Callable[[str], None] = print,
) -> SendReport:
    started = time.perf_counter()
    report = SendReport()

    readers = [r for r in subscribers.load(config.subscribers) if r.active]
    if to:
        readers = [r for r in readers if r.email.lower() == to.lower()]
        if not readers:
            raise DigestError(f"{config.subscribers}: no active subscriber {to}")
    plan, report.not_due = owed(readers, now, due)
    report.issues = sorted({issue_id for _, issue_id in plan})

    lock = nullcontext() if dry_run else run_lock(config.state)
    with lock, State(config.state, readonly=dry_run) as state:
        # Checked under the lock, before fetching: a cron run every few minutes that finds
        # everybody served costs a file read and a query, not a fetch.
        todo = []
        for reader, issue_id in plan:
            if state.status(issue_id, reader.email) == "sent" or (
                due and (state.last_issue_sent(reader.email) or "") >= issue_id
            ):
                report.skipped += 1
            else:
                todo.append((reader, issue_id))
        if not todo:
            report.seconds = time.perf_counter() - started
            return report

        # Which listing to fetch is the sources' business: the day in the newsletter's zone.
        day = date.fromisoformat(issue_id_for(now, config.newsletter.timezone))
        collected = sources.collect(
            config.sources, day=day, options=config.fetch, state=config.state, readonly=dry_run
        )
        for failed in collected.failed:
            report.problems.append(f"source {failed.label}: {failed.error}")
        if collected.lookback:
            earlier = ", ".join(map(str, collected.lookback))
            log(f"no papers for {day}; using {earlier} (fetch.empty_day: lookback)")
        if collected.empty_day:  # a weekend on HF: normal, not a failure (fetch.empty_day: skip)
            log(f"no papers for {day} from any source: no issue today, nothing was sent")
            report.seconds = time.perf_counter() - started
            return report
        if not collected.papers:
            report.problems.append("no papers from any source: nothing was sent")
            report.seconds = time.perf_counter() - started
            return report

        # One set of themes for the run; each issue date gets its own builder.
        base = issue_for(config, collected.papers, now)
        builders: dict[str, Builder] = {}
        secret = config.secret()
        backend = open_backend(config.delivery.url, config.root)
        for reader, issue_id in todo:
            if issue_id not in builders:
                dated = replace(base, id=issue_id, date=date.fromisoformat(issue_id))
                builders[issue_id] = Builder(config, dated, now, secret)
                if config.archive is not None and not dry_run:  # the page each reader's link opens
                    page, problems = write_archive(config, builders[issue_id])
                    report.archived = ", ".join(filter(None, (report.archived, page)))
                    report.problems += problems
            builder = builders[issue_id]
            picks = builder.picks(reader, builder.history(state, reader.email))
            if not picks:
                report.empty += 1
                continue
            message = builder.message(reader, picks)
            if dry_run:
                report.dry_run += 1
                log(f"would send {len(picks)} papers to {reader.email}: {message.rendered.subject}")
                continue
            state.claim(issue_id, reader.email, message.envelope.message_id)
            try:
                where = backend.deliver(message.raw, message.envelope)
            except DeliveryError as exc:
                state.mark_failed(issue_id, reader.email, str(exc))
                report.failed += 1
                report.problems.append(f"{reader.email}: {exc}")
                continue
            state.mark_sent(issue_id, reader.email, [p.paper.id for p in picks])
            report.sent += 1
            report.delivered_to.append(where)
        backend.close()
    report.seconds = time.perf_counter() - started
    return report


def write_archive(config: Config, builder: Builder) -> tuple[str, list[str]]:
    """The issue's web page, index and feed: (page, problems). A failure here is reported and
    the mail still goes out: readers should not miss an issue over the web copy."""
    try:
        written = archive.write(config, builder)
    except (OSError, DigestError) as exc:
        detail = "; ".join(exc.problems) if isinstance(exc, DigestError) else str(exc)
        return "", [f"archive {config.archive}: {detail}"]
    return str(written.page), written.problems
