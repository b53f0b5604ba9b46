"""Reports to the operator (`newsletter.operator`): when a run fails, sends nothing on a day
readers were owed an issue, bounces or fails more than `monitoring.fail_share` of what it
tried, or a source has failed `monitoring.source_days` issue days running.

Each problem is kept in the history under a key and the operator's calendar day, so the same
problem is reported once a day however often cron runs. A report goes out as one short
plain-text email through the configured backend, never to a reader. When that backend is the
trouble (the relay refuses the login), the report stays unsent, is said on stderr and in the
history, and goes out with the first later run that can deliver it.

`problems` is pure: what a finished run and the source streaks amount to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import DigestError

if TYPE_CHECKING:
    from ..config import Config, Monitoring
    from ..store.runs import OperatorReport
    from ..store.sql import SqlDatabase
    from .history import Outcome


@dataclass(frozen=True)
class Problem:
    key: str  # the same key on the same day is reported once
    line: str


def problems(kind: str, outcome: Outcome, streaks: dict[str, int], settings: Monitoring) -> list[Problem]:
    """What in a finished run the operator must hear of. `streaks`: each source that failed in
    this run, with how many issue days running it has failed."""
    found: list[Problem] = []
    issues = ", ".join(outcome.issues) or "(none)"
    sent = outcome.counts.get("sent", 0)
    if outcome.stopped:
        found.append(Problem(f"{kind} failed", f"the {kind} run failed: {outcome.stopped}"))
    if kind != "inbox" and sent == 0 and outcome.owed:
        found.append(
            Problem(
                "nothing sent",
                f"issue {issues}: {outcome.owed} readers were owed it and none was sent it",
            )
        )
    for day in outcome.unsourced:
        found.append(
            Problem(f"no papers {day}", f"issue {day}: no source had papers, so readers owed it got nothing")
        )
    refused = outcome.counts.get("bounced", 0) + outcome.counts.get("failed", 0)
    tried = refused + sent + outcome.counts.get("uncertain", 0)
    if sent and tried and refused / tried > settings.fail_share:
        found.append(
            Problem(
                "failure share",
                f"issue {issues}: {refused} of {tried} messages bounced or failed "
                f"({refused / tried:.0%}, more than monitoring.fail_share {settings.fail_share:.0%})",
            )
        )
    for source, days in sorted(streaks.items()):
        if days >= settings.source_days:
            error = next((e for s, _, e in outcome.source_days if s == source and e), "")
            found.append(
                Problem(f"source {source}", f"source {source} has failed {days} issue days running: {error}")
            )
    return found


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_summary(config: Config, db: SqlDatabase, now: datetime, day: str) -> Problem:
    """The week's figures (monitoring.weekly_summary), sent once on its day like a problem."""
    from collections import Counter
    from datetime import timedelta

    from ..store import subscriber_store
    from .history import utc_text

    since = now - timedelta(days=7)
    totals: Counter[str] = Counter()
    for run in db.runs(limit=100_000, since=utc_text(since)):
        totals.update(run.counts)
    new = left = 0
    listed = subscriber_store(config, db)
    try:
        for reader in listed.readers():
            new += bool(reader.created and reader.created >= since)
            left += bool(reader.unsubscribed and reader.unsubscribed >= since)
    finally:
        listed.close()
    bounced = len(db.bounced_since(utc_text(since)))
    return Problem(
        "weekly summary",
        f"the week to {day}: {totals['sent']} sent, {bounced} addresses bounced, "
        f"{totals['complaint']} complaints, {new} new readers, {left} unsubscribed",
    )


def after_run(
    config: Config,
    db: SqlDatabase,
    kind: str,
    run_id: str,
    outcome: Outcome,
    *,
    now: datetime,
    log: Callable[[str], None],
) -> None:
    """Keep the run's new problems, then send whatever the operator has not been told yet."""
    from ..readers.due import local_date
    from .history import utc_text

    try:
        failing = {source for source, _, error in outcome.source_days if error}
        streaks = {source: db.failing_days(source) for source in failing}
        day = local_date(now, config.newsletter.timezone).isoformat()
        found = problems(kind, outcome, streaks, config.monitoring)
        if (
            config.monitoring.weekly_summary
            == WEEKDAYS[local_date(now, config.newsletter.timezone).weekday()]
        ):
            found.append(weekly_summary(config, db, now, day))
        for problem in found:
            db.note_problem(problem.key, day, problem.line, run_id, utc_text(now))
        pending = db.unsent_reports()
    except DigestError as exc:
        log(f"warning: run history: could not keep the operator's report: {'; '.join(exc.problems)}")
        return
    operator = config.newsletter.operator
    if not pending or operator is None:
        return
    try:
        where = deliver(config, operator, pending, now)
    except Exception as exc:  # the backend is down: the report waits for a run that can send it
        reason = str(exc) or type(exc).__name__
        log(f"warning: could not send the report to the operator ({operator}): {reason}; it goes out later")
        _mark(db, pending, sent=None, error=reason, log=log)
        return
    log(f"reported {len(pending)} problem(s) to the operator, {operator} ({where})")
    _mark(db, pending, sent=utc_text(now), error=None, log=log)


def _mark(
    db: SqlDatabase,
    pending: list[OperatorReport],
    *,
    sent: str | None,
    error: str | None,
    log: Callable[[str], None],
) -> None:
    from .history import redact

    try:
        db.mark_reports(
            ((r.problem, r.day) for r in pending), sent=sent, error=redact(error) if error else None
        )
    except DigestError as exc:
        log(f"warning: run history: {'; '.join(exc.problems)}")


def compose(config: Config, operator: str, pending: list[OperatorReport], now: datetime) -> bytes:
    """One short plain-text email: a line per problem, and where to look."""
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import format_datetime, make_msgid

    from ..compose.mail import domain_of

    news = config.newsletter
    pending = sorted(pending, key=lambda r: (not r.problem.endswith(" failed"), r.created))  # the cause first
    first = pending[0].line
    more = f" (+{len(pending) - 1} more)" if len(pending) > 1 else ""
    message = EmailMessage(policy=SMTP)
    message["From"] = news.sender
    message["To"] = operator
    message["Subject"] = f"[{news.name}] {first[:120]}{more}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain_of(news.sender))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    lines = [f"From digest's runs of {news.name}:", ""]
    lines += [f"- {r.day}: {r.line}" for r in pending]
    lines += [
        "",
        "`digest status` shows the latest runs and their errors; `digest doctor` checks the setup.",
        "Each problem is reported once a day.",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message.as_bytes()


def deliver(config: Config, operator: str, pending: list[OperatorReport], now: datetime) -> str:
    from ..compose.mail import Envelope
    from ..delivery.backends import open_backend

    news = config.newsletter
    envelope = Envelope(
        sender=news.sender,
        to_email=operator,
        to_name=None,
        issue_id=f"operator-{now.strftime('%Y%m%dT%H%M%S')}",
        list_name=news.name,
        unsubscribe_url="",
        notice=True,
    )
    backend = open_backend(config.delivery, config.root)
    try:
        return backend.deliver(compose(config, operator, pending, now), envelope)
    finally:
        backend.close()
