"""One send run, top to bottom:

    readers -> the issue each is owed -> that day's papers -> per reader: pick, claim,
            render -> deliver -> record

Issues are dated in each reader's own calendar (digest/readers/due.py), and an issue's papers are
that day's: the sources are asked once per issue day in the run (and the HTTP cache makes a
listing that has not changed cost a 304), never the newsletter's day for everyone.

An issue that held nothing new for a reader is recorded with what it was built from (a hash
of the day's papers and of the reader's entry): later runs that day skip them without
ranking again, until a source answers with something else or the entry changes.

Every reader's row in the ledger (digest/store) is claimed before their message is built
and marked sent once the server has accepted it, so a run killed at any point resumes on the
next `digest send`: nobody is skipped, and only what was in flight may go twice (the pool's
messages and the last batch of sent marks not yet written: SentMarks). Readers
already sent are skipped, so a rerun after a complete run sends nothing; a row another live
run holds is left to it, so two runs at once never both mail one reader.

Messages are built here, one at a time as the delivery pool (digest/delivery/pool.py) has room, and
outcomes are recorded here as they come: 4xx replies, dropped connections and timeouts are
retried there with backoff; a 5xx marks the address bounced; too many failures in a row, or
a server that refuses us, stops the run (exit 1, resumable).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from .. import sources
from ..compose.build import Builder, Message, issue_for
from ..compose.mail import message_id
from ..config import Config
from ..delivery import channels
from ..delivery.backends import BounceError, FatalError, UncertainError, batch_size, open_backend
from ..delivery.pool import Job, Outcome, Pool, first_interrupt_stops
from ..errors import EXIT_OK, EXIT_PARTIAL, DigestError
from ..issue import quiet_days
from ..issue.signals import RISING_DAYS, growth_of, rising, snapshot_rows
from ..models import Growth, Paper, Pick, Subscriber
from ..readers.due import CATCH_UP, too_soon
from ..readers.due import current as current_slot
from ..readers.due import today as local_issue
from ..readers.subscribers import Bounce, address_key
from ..readers.windows import Window, window_for
from ..store import Claim, HttpCache, LastSent, Ledger, Listings, Run, SubscriberStore, Tldrs, stores
from ..util.plural import counted
from .profiles import Profiles, for_run

# Readers claimed in one transaction before their messages are built, and deliveries marked
# sent in one: a commit per reader was a third of a send's time on SQLite. Small, because what
# a kill leaves claimed but unmarked may go twice (SentMarks).
CLAIM_AHEAD = 16
MARK_BATCH = 16
MARK_EVERY = 1.0  # seconds: a slow (rate-limited) run still writes its marks this often
SEEN_BATCH = 1000  # readers first seen, recorded a statement at a time


class Standing(StrEnum):
    """Where a reader stands with the issue they are owed, and so what a run does."""

    SEND = "send"
    NOT_DUE = "not due"
    SENT = "sent"  # they have it
    BOUNCED = "bounced"  # their address bounced before
    NOTHING_NEW = "nothing new"  # built for them from the same papers and entry: nothing new


@dataclass
class SendReport:
    issues: list[str] = field(default_factory=list)  # the issues readers were owed this run
    sent: int = 0
    skipped: int = 0  # already had this issue
    empty: int = 0  # nothing new for them today
    not_due: int = 0  # --due: their send time has not come yet
    busy: int = 0  # another run was sending to them at the same time
    suppressed: int = 0  # bounced in an earlier run: not mailed
    retried: int = 0  # delivery attempts after the first
    bounced: int = 0  # refused for good in this run
    failed: int = 0
    uncertain: int = 0  # sent, but the server never answered the end of it: not sent again
    not_reached: int = 0  # the run stopped before their turn
    dry_run: int = 0
    seconds: float = 0.0
    sending_seconds: float = 0.0
    stopped: str = ""  # why the run stopped early, if it did
    interrupted: bool = False
    bounced_addresses: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Reported, but the run is not worse for them (a summaries endpoint that did not answer).
    warnings: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    archived: str = ""  # the issues' web pages, when the archive is on
    posted: list[str] = field(default_factory=list)  # "slack: 2026-11-26": channel posts of this run
    # For the run history (digest/jobs/history.py): each source's answer per issue day (None: it
    # answered), and the days readers were owed an issue no source had papers for.
    source_days: list[tuple[str, str, str | None]] = field(default_factory=list)
    unsourced: list[str] = field(default_factory=list)

    @property
    def issue(self) -> str:
        return ", ".join(self.issues)

    @property
    def rate(self) -> float:
        """Messages delivered per second while sending."""
        return self.sent / self.sending_seconds if self.sending_seconds else 0.0

    @property
    def exit_code(self) -> int:
        trouble = (
            self.failed or self.bounced or self.uncertain or self.not_reached or self.stopped or self.problems
        )
        return EXIT_PARTIAL if trouble else EXIT_OK

    def summary(self, *, dry_run: bool = False, due: bool = False) -> str:
        """The run's closing line, as `digest send` prints it and `digest schedule` logs it."""
        parts = [
            f"sent {self.sent}",
            f"already sent {self.skipped}",
            f"nothing new {self.empty}",
            f"retried {self.retried}",
            f"bounced {self.bounced}",
            f"failed {self.failed}",
        ]
        if due:
            parts.append(f"not due yet {self.not_due}")
        if self.uncertain:
            parts.append(f"uncertain {self.uncertain}")
        if dry_run:
            parts.insert(0, f"dry run: would send {self.dry_run}")
        if self.busy:
            parts.append(f"being sent by another run {self.busy}")
        if self.suppressed:
            parts.append(f"not mailed (bounced before) {self.suppressed}")
        if self.not_reached:
            parts.append(f"not reached {self.not_reached}")
        return ", ".join(parts) + f" in {self.seconds:.2f}s ({self.rate:.1f} msg/s)"


def owed_issue(
    reader: Subscriber,
    now: datetime,
    due: bool,
    *,
    seen: datetime | None = None,
    mailed_before: bool = False,
    catch_up: timedelta = CATCH_UP,
) -> str | None:
    """The issue `reader` is owed now: the one of their local today; with `due`, only once
    its send time has come, within the catch-up window, and for a reader never mailed only a
    send time after the ledger first saw them (None otherwise). Issues are dated in each
    reader's own time zone (why: digest/readers/due.py)."""
    if not due:
        return local_issue(reader, now)
    slot = current_slot(reader, now, seen=seen, mailed_before=mailed_before, catch_up=catch_up)
    return slot.issue if slot is not None else None


class FirstSeen:
    """When a run first saw each reader (digest/readers/due.py: a reader never mailed starts with a
    send time after it): read once per run; the readers new to it are `now`, and recorded a
    thousand at a time as the run goes (not held to its end: a run's memory stays flat however
    long the list). A dry run records nothing, and keeps nothing either."""

    def __init__(self, ledger: Ledger, *, readonly: bool = False):
        self.ledger = ledger
        self.readonly = readonly
        self.first = ledger.seen_readers()
        self.new: dict[str, None] = {}  # in the order seen

    def at(self, email: str, now: datetime) -> datetime:
        seen = self.first.get(email)
        if seen is not None:
            return seen
        if not self.readonly and email not in self.new:
            self.new[email] = None
            if len(self.new) >= SEEN_BATCH:
                self.record(now)
        return now

    def record(self, now: datetime) -> None:
        if self.new:
            self.ledger.mark_seen(list(self.new), now)
            self.new = {}


def papers_key(papers: list[Paper]) -> str:
    """What a day's papers hash to: the same listing (a 304, an unchanged file) gives the same."""
    text = json.dumps([p.to_dict() for p in papers], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def reader_key(reader: Subscriber) -> str:
    return hashlib.sha256(reader.model_dump_json().encode()).hexdigest()[:32]


def run(
    config: Config,
    *,
    now: datetime,
    to: str | None = None,
    dry_run: bool = False,
    due: bool = False,
    log: Callable[[str], None] = print,
    progress: Callable[[SendReport], None] | None = None,
) -> SendReport:
    started = time.perf_counter()
    open_one, batch = backend_opener(config)  # a bad URL, key or DKIM key stops us here, before any claim
    if not to:  # a test send to one reader posts nowhere
        channels.check(config)
    with stores(config, readonly=dry_run) as opened:
        # The list is checked whole first (nothing is sent from a bad list), then read afresh,
        # one reader at a time, at each pass: it is never held, however long it is.
        listed = opened.subscribers
        problems = listed.problems()
        if problems:
            raise DigestError(problems)
        profiles, close_lookup = for_run(config, opened.own_papers, readonly=dry_run)
        seen = FirstSeen(opened.ledger, readonly=dry_run)
        try:
            with nullcontext() if dry_run else opened.ledger.run() as me:
                report = _run(
                    config,
                    opened.ledger,
                    opened.listings,
                    listed,
                    profiles,
                    opened.http_cache(readonly=dry_run),
                    opened.tldrs,
                    open_one,
                    batch,
                    me,
                    seen,
                    now=now,
                    to=to,
                    dry_run=dry_run,
                    due=due,
                    log=log,
                    progress=progress,
                )
        finally:
            close_lookup()
            if not dry_run:
                seen.record(now)
        # Each file's problems once. Warnings, as in `preview`: the reader still got their
        # digest, and a line of their library file that cannot be used fails no delivery.
        report.warnings += dict.fromkeys(profiles.problems)
    report.seconds = time.perf_counter() - started
    return report


def _run(
    config: Config,
    ledger: Ledger,
    listings: Listings,
    listed: SubscriberStore,
    profiles: Profiles,
    cache: HttpCache,
    tldrs: Tldrs,
    open_one: Callable,
    batch: int,
    me: Run | None,
    seen: FirstSeen,
    *,
    now: datetime,
    to: str | None,
    dry_run: bool,
    due: bool,
    log: Callable[[str], None],
    progress: Callable[[SendReport], None] | None,
) -> SendReport:
    report = SendReport()
    begun = time.perf_counter()

    def clock() -> datetime:
        """The run's clock: `now` (which `--now` moves), advanced as the run goes on."""
        return now + timedelta(seconds=time.perf_counter() - begun)

    wanted = address_key(to) if to else None

    def readers() -> Iterator[Subscriber]:
        for reader in listed.readers():
            if reader.active and (wanted is None or reader.email.lower() == wanted):
                yield reader

    bounced = ledger.bounced()
    sent: dict[str, set[str]] = {}  # issue -> who has it, read once per issue
    latest: dict[str, LastSent] = ledger.last_sent() if due else {}  # per reader, read once
    nothing_new: dict[str, dict[str, str]] = {}  # issue -> reader -> what it was built from
    catch_up = timedelta(hours=config.delivery.catch_up_hours)

    def standing(reader: Subscriber) -> tuple[str | None, Standing]:
        """The issue the reader is owed and what to do about it (Standing)."""
        email = reader.email.lower()
        issue_id = owed_issue(
            reader, now, due, seen=seen.at(email, now), mailed_before=email in latest, catch_up=catch_up
        )
        if issue_id is None:
            return None, Standing.NOT_DUE
        if email in bounced:
            return issue_id, Standing.BOUNCED
        if issue_id not in sent:
            sent[issue_id] = ledger.sent_to(issue_id)
        if email in sent[issue_id]:
            return issue_id, Standing.SENT
        last = latest.get(email)
        if last is not None and last.issue >= issue_id:
            return issue_id, Standing.SENT
        if last is not None and too_soon(last.at, now):
            return None, Standing.NOT_DUE
        if issue_id not in nothing_new:
            nothing_new[issue_id] = ledger.nothing_new(issue_id)
        built_from = nothing_new[issue_id].get(email)
        # The day's papers are fetched (once per run) only for a reader the issue had nothing
        # for: a source with nothing new answers 304, and nobody is ranked again.
        if built_from is not None and built_from == key_for(window_for(reader.frequency, issue_id), reader):
            return issue_id, Standing.NOTHING_NEW
        return issue_id, Standing.SEND

    papers_of_day = Days(config, cache, report, log, listings, now, keep=not dry_run)
    windows: dict[Window, tuple[list[Paper], str]] = {}  # an issue's days -> their papers and key

    def papers_of(window: Window) -> tuple[list[Paper], str]:
        if window not in windows:
            papers = papers_over(window, papers_of_day)
            windows[window] = papers, papers_key(papers)
        return windows[window]

    def key_for(window: Window, reader: Subscriber) -> str:
        return f"{papers_of(window)[1]} {reader_key(reader)}"

    # Before building anything: is anyone owed anything? Usually the first reader is. A cron
    # run every few minutes that finds everybody served reads the list and the ledger, and
    # fetches nothing (or, for readers whose issue had nothing new, asks the sources whether
    # anything changed). The claims below make the answer exact.
    # A nothing-new check may have fetched: its problems and the sources' answers are kept.
    survey = SendReport(problems=report.problems, source_days=report.source_days, unsourced=report.unsourced)
    for reader in readers():
        issue_id, what = standing(reader)
        if to and what is Standing.BOUNCED:
            raise DigestError(
                f"{to} bounced: {bounced[wanted or '']}; `digest bounces --clear {to}` to mail it again"
            )
        tally(survey, issue_id, what)
        if what is Standing.SEND:
            break
    else:
        if to and not survey.issues and not survey.not_due:
            raise DigestError(f"{listed.where}: no active subscriber {to}")
        return survey

    # Each issue day gets its own builder (themes, ranking, cards) from that day's papers;
    # days whose papers are the same (a `file` source) share one's work.
    # A week's or a month's issue (digest/readers/windows.py) is built from its window's papers.
    builders: dict[Window, Builder | None] = {}
    shared: dict[tuple[str, int], Builder] = {}  # (papers_key, window length) -> the first builder
    secret = config.secret()

    def builder_for(window: Window) -> Builder | None:
        """The issue's builder, or None when its days have no papers (reported by the fetch)."""
        if window in builders:
            return builders[window]
        issue_id = window.issue
        papers, key = papers_of(window)
        if not papers:
            builders[window] = None
            return None
        first = shared.get((key, window.length))
        if first is not None:  # shares the themes, ranking and cards, TL;DRs included
            dated = replace(first.issue, id=issue_id, date=date.fromisoformat(issue_id))
            builder = first.for_issue(dated, window)
        else:
            issue = replace(
                issue_for(config, papers, now),
                id=issue_id,
                date=date.fromisoformat(issue_id),
                growth=growth_since_earlier(listings, papers, now),
            )
            builder = shared[key, window.length] = Builder(config, issue, now, secret, window)
            if config.summaries is not None:  # the send path imports only what it uses
                from . import summaries

                warning = summaries.for_builder(config, builder, tldrs, readonly=dry_run)
                report.warnings += [warning] if warning else []
            if not dry_run:  # the feedback page shows them; the profiles of readers who mark them read them
                profiles.store.remember_papers((p.id, p.title, p.abstract, p.url) for p in papers)
        with_days_before(config, listings, builder, papers, papers_of_day, now)
        builders[window] = builder
        if config.archive is not None and not dry_run:  # the page each reader's link opens
            page, problems = write_archive(config, builder)
            report.archived = ", ".join(filter(None, (report.archived, page)))
            report.problems += problems
        return builder

    pending = readers()
    held: list[tuple[Subscriber, Builder, list[Pick]]] = []  # claimed by another run when we came

    def claimed(reader: Subscriber, issue_id: str) -> Claim:
        email = reader.email.lower()
        return ledger.claim(
            issue_id, email, message_id(issue_id, email, config.newsletter.sender, secret), me
        )

    unbuilt_in_a_row = 0

    def built(reader: Subscriber, builder: Builder, picks: list[Pick]) -> Message | None:
        """The reader's message, or None (reported, the row marked failed) if it cannot be
        built: one reader's data must never stop the run for the others."""
        nonlocal unbuilt_in_a_row
        issue_id = builder.issue.id
        try:
            message = builder.message(reader, picks)
        except Exception as exc:
            unbuilt(None if dry_run else ledger, report, issue_id, reader.email.lower(), exc)
            unbuilt_in_a_row += 1
            if unbuilt_in_a_row >= config.delivery.error_threshold:
                report.stopped = f"{unbuilt_in_a_row} messages in a row could not be built; the last: {exc}"
            return None
        unbuilt_in_a_row = 0
        return message

    ahead: deque[tuple[Subscriber, Builder, list[Pick]]] = deque()  # claimed, not yet built

    def claim_ahead(owed: list[tuple[Subscriber, Builder, list[Pick]]]) -> None:
        """Claim a batch of readers in one transaction (CLAIM_AHEAD); those claimed wait in
        `ahead`, those another run holds are looked at again at the end."""
        sender = config.newsletter.sender
        rows = []
        for reader, builder, _ in owed:
            email = reader.email.lower()
            rows.append((builder.issue.id, email, message_id(builder.issue.id, email, sender, secret)))
        for item, claim in zip(owed, ledger.claim_all(rows, me), strict=True):
            report.skipped += claim == Claim.SENT
            report.busy += claim == Claim.BUSY
            if claim == Claim.BUSY:
                held.append(item)
            elif claim == Claim.CLAIMED:
                ahead.append(item)

    def claimed_messages() -> Iterator[tuple[Subscriber, str, list[Pick], Message]]:
        while ahead:
            reader, builder, picks = ahead.popleft()
            message = built(reader, builder, picks)
            if report.stopped:
                return
            if message is not None:
                yield reader, builder.issue.id, message.picks, message  # fewer picks, if some would not fit

    def messages() -> Iterator[tuple[Subscriber, str, list[Pick], Message]]:
        """Each reader still owed an issue, claimed, with their message; built only as
        the pool has room, so memory holds a few messages, never the whole list."""
        owed: list[tuple[Subscriber, Builder, list[Pick]]] = []
        for reader in pending:
            issue_id, what = standing(reader)
            tally(report, issue_id, what)
            if issue_id is None or what is not Standing.SEND:
                continue
            builder = builder_for(window_for(reader.frequency, issue_id))
            if builder is None:
                continue
            history = builder.history(ledger, reader.email.lower())
            picks = builder.picks(reader, history, profiles.of(reader))
            if not picks:
                report.empty += 1
                if not dry_run:
                    ledger.mark_nothing_new(
                        issue_id, reader.email, key_for(window_for(reader.frequency, issue_id), reader)
                    )
                continue
            if dry_run:
                ahead.append((reader, builder, picks))
            else:
                owed.append((reader, builder, picks))
                if len(owed) < CLAIM_AHEAD:
                    continue
                claim_ahead(owed)
                owed = []
            yield from claimed_messages()
            if report.stopped:
                return
        if owed:
            claim_ahead(owed)
            yield from claimed_messages()
            if report.stopped:
                return
        # A second look at the readers another run held: if it has died since (killed, its
        # machine gone), its claims are ours to finish now rather than at the next run.
        for reader, builder, picks in held:
            claim = claimed(reader, builder.issue.id)
            if claim != Claim.BUSY:
                report.busy -= 1
                report.skipped += claim == Claim.SENT
            if claim == Claim.CLAIMED and (message := built(reader, builder, picks)) is not None:
                yield reader, builder.issue.id, message.picks, message

    if dry_run:
        for reader, _, picks, message in messages():
            report.dry_run += 1
            log(f"would send {counted(len(picks), 'paper')} to {reader.email}: {message.rendered.subject}")
        return report

    delivery = config.delivery
    pool = Pool(
        open_one,
        workers=delivery.concurrency,
        retries=delivery.retries,
        backoff=delivery.backoff,
        max_wait=delivery.max_wait,
        rate=delivery.rate,
        batch=batch,
    )
    jobs = (Job(m.raw, m.envelope, key=(issue_id, picks)) for _, issue_id, picks, m in messages())
    sending = time.perf_counter()
    in_a_row = 0  # messages not delivered since the last one that was
    marks = SentMarks(ledger)
    try:
        with first_interrupt_stops() as interrupted:
            for outcome in pool.deliver(jobs):
                record(ledger, outcome, report, marks, at=clock())
                in_a_row = 0 if outcome.delivered else in_a_row + outcome.attempted
                report.stopped = report.stopped or why_stop(outcome, in_a_row, delivery.error_threshold)
                if interrupted.is_set() and not report.stopped:
                    report.stopped, report.interrupted = "interrupted (Ctrl-C)", True
                if report.stopped:
                    pool.stop()
                report.sending_seconds = time.perf_counter() - sending
                if progress is not None:
                    progress(report)
    except KeyboardInterrupt:  # a second Ctrl-C: what was under way goes again next run
        report.stopped, report.interrupted = "interrupted (Ctrl-C twice)", True
    finally:
        marks.flush()
    for reader, builder, _ in ahead:  # claimed ahead, never built: the next run sends them
        ledger.mark_failed(builder.issue.id, reader.email.lower(), "not attempted: the run stopped first")
        report.not_reached += 1
    ahead.clear()
    if report.bounced_addresses:
        report.problems += mark_bounced(listed, report.bounced_addresses, now)
    if not to and not report.interrupted:  # after the email: the archive page exists by now
        # Days with papers; a channel posts each day's issue, not a reader's week.
        built_days = {w.issue: b for w, b in builders.items() if b is not None and w.single_day}
        report.posted, warnings = channels.publish(config, built_days, ledger, me)
        report.warnings += warnings
    if report.stopped:  # count who the run never got to, without building anything
        for reader in pending:
            issue_id, what = standing(reader)
            tally(report, issue_id, what)
            report.not_reached += what is Standing.SEND
    return report


def fetch(
    config: Config, day: date, cache: HttpCache, report: SendReport, log: Callable[[str], None]
) -> tuple[list[Paper], bool]:
    """The papers of the issue of `day`, or none (reported) when that issue has nothing to
    send; and whether the day was empty (every source answered, none listed a paper)."""
    collected = sources.for_issue(config, day, cache)
    report.problems.extend(collected.problems)
    report.source_days += [(r.label, str(r.day or day), r.error) for r in collected.reports]
    for note in collected.notes:
        log(note)
    if collected.empty_day:  # a weekend on HF: normal, not a failure (fetch.empty_day: skip)
        log(f"no papers for {day} from any source: no issue of {day}, nothing was sent for it")
        return [], True
    if not collected.papers:
        report.problems.append(f"no papers from any source for {day}: nothing was sent for it")
        report.unsourced.append(str(day))
    return collected.papers, False


def remember_empty_day(config: Config, store: Listings, day: date, now: datetime) -> list[str]:
    """A day with no papers, kept with what is said about it (digest/issue/quiet_days.py) for the
    next issue to open with, and shown in the web archive: the problems writing it there."""
    line = quiet_days.said(day)
    store.mark_empty_day(day.isoformat(), line)
    if config.archive is None:
        return []
    from . import archive  # only when the archive is on

    try:
        return archive.write_empty_day(config, day, line, now)
    except DigestError as exc:
        return exc.problems


def risers_before(
    store: Listings,
    day: date,
    today: list[Paper],
    papers_of_day: Callable[[date], list[Paper]],
    now: datetime,
    keep: int,
) -> list[Pick]:
    """The papers of the days before `day` (not listed again on it) climbing fastest: the
    candidates for each reader's "Rising" section (newsletter.rising), a reader's own history
    left out later. Those days' listings are asked for once per run, like any issue day's."""
    listed = {p.id for p in today}
    earlier = [
        p
        for back in range(1, RISING_DAYS + 1)
        for p in papers_of_day(day - timedelta(days=back))
        if p.id not in listed
    ]
    papers = sources.merge([earlier])
    return rising(papers, growth_since_earlier(store, papers, now), limit=keep)


def quiet_days_line(store: Listings, day: date) -> str:
    """What the issue of `day` opens with when the days before it had no papers, else ""."""
    first = day - timedelta(days=quiet_days.LOOK_BACK)
    empty = store.empty_days(first.isoformat(), (day - timedelta(days=1)).isoformat())
    return quiet_days.opening_line(quiet_days.quiet_before(day, empty))


def papers_over(window: Window, papers_of_day: Callable[[date], list[Paper]]) -> list[Paper]:
    """The papers of every day of `window`, each once (a paper listed on two days keeps its
    highest counts): a day's issue is its day's papers, a week's the seven days'."""
    if window.single_day:
        return papers_of_day(window.first)
    return sources.merge([papers_of_day(day) for day in window.days])


class Days:
    """Each listed day's papers, fetched once per run (`days(day)`); unless a dry run, what
    the sources said of the day is kept as it comes (remember_day)."""

    def __init__(
        self,
        config: Config,
        cache: HttpCache,
        report: SendReport,
        log: Callable[[str], None],
        store: Listings,
        now: datetime,
        *,
        keep: bool,
    ):
        self.config, self.cache, self.report, self.log = config, cache, report, log
        self.store, self.now, self.keep = store, now, keep
        self.papers: dict[date, list[Paper]] = {}

    def __call__(self, day: date) -> list[Paper]:
        if day not in self.papers:
            self.papers[day], empty = fetch(self.config, day, self.cache, self.report, self.log)
            if self.keep:
                self.report.problems += remember_day(
                    self.config, self.store, day, self.papers[day], empty, self.now
                )
        return self.papers[day]


def remember_day(
    config: Config, store: Listings, day: date, papers: list[Paper], empty: bool, now: datetime
) -> list[str]:
    """What the sources said of `day`: today's snapshot of its papers' upvotes, comments and
    stars (digest/issue/signals.py), or that it had none. Returns problems writing the archive."""
    if papers:
        store.record_signals(now.astimezone(UTC).date().isoformat(), snapshot_rows(papers))
    return remember_empty_day(config, store, day, now) if empty else []


def with_days_before(
    config: Config,
    store: Listings,
    builder: Builder,
    papers: list[Paper],
    papers_of_day: Callable[[date], list[Paper]],
    now: datetime,
) -> None:
    """A day's issue and the days before it: the line saying why they were empty, if they
    were (digest/issue/quiet_days.py), and the papers of those days climbing fastest for the
    "Rising" section (newsletter.rising). A week's or a month's issue holds those days."""
    if builder.window is not None and not builder.window.single_day:
        return
    day = builder.issue.date
    builder.note = quiet_days_line(store, day)
    if config.newsletter.rising:
        keep = 4 * config.newsletter.rising  # enough for readers who had a few already
        builder.rising = risers_before(store, day, papers, papers_of_day, now, keep)


def growth_since_earlier(store: Listings, papers: list[Paper], now: datetime) -> dict[str, Growth]:
    """What each paper gained since its latest snapshot before today."""
    today = now.astimezone(UTC).date()
    return growth_of(papers, store.signals_before(today.isoformat(), (p.id for p in papers)), today)


def unbuilt(ledger: Ledger | None, report: SendReport, issue_id: str, email: str, exc: Exception) -> None:
    """A reader whose message could not be built: reported as failed, and their claimed row
    marked failed (never left claimed), so the next run tries them again."""
    problem = f"could not build the message ({type(exc).__name__}: {exc})"
    if ledger is not None:
        ledger.mark_failed(issue_id, email, problem)
    report.failed += 1
    report.problems.append(f"{email}: {problem}")


def why_stop(outcome: Outcome, in_a_row: int, threshold: int) -> str:
    """Why the run should stop after this outcome ("" to go on)."""
    if isinstance(outcome.error, FatalError):
        return f"the server refuses us: {outcome.error}"
    if in_a_row >= threshold:
        return (
            f"{in_a_row} messages in a row were not delivered (delivery.error_threshold); "
            f"the last: {outcome.error}"
        )
    return ""


def tally(report: SendReport, issue_id: str | None, what: Standing) -> None:
    if issue_id is None:
        report.not_due += 1
        return
    if issue_id not in report.issues:
        report.issues = sorted([*report.issues, issue_id])
    report.skipped += what is Standing.SENT
    report.suppressed += what is Standing.BOUNCED
    report.empty += what is Standing.NOTHING_NEW


class SentMarks:
    """Deliveries recorded in the ledger in batches: one transaction per MARK_BATCH messages
    (or per MARK_EVERY seconds on a slow run), not one per message. A run killed before a
    batch is written sends that batch again: "in flight" at a kill is what the pool held plus
    this batch, never more than MARK_BATCH + 2 per connection + CLAIM_AHEAD rows."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.monotonic):
        self.ledger = ledger
        self.clock = clock
        self.rows: list[tuple[str, str, list[str], str | None, datetime | None]] = []
        self.since = 0.0

    def add(self, issue_id: str, email: str, papers: list[str], at: datetime | None = None) -> None:
        if not self.rows:
            self.since = self.clock()
        self.rows.append((issue_id, email, papers, None, at))
        if len(self.rows) >= MARK_BATCH or self.clock() - self.since >= MARK_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.ledger.mark_sent_all(self.rows)
            self.rows = []


def record(
    ledger: Ledger, outcome: Outcome, report: SendReport, marks: SentMarks | None = None, *, at: datetime
) -> None:
    """One message's outcome, in the ledger (sent marks through `marks`, in batches) and in
    the report (`at`: the run's clock)."""
    issue_id, picks = outcome.job.key
    email = outcome.job.envelope.to_email
    report.retried += outcome.retries
    if outcome.delivered:
        if marks is not None:
            marks.add(issue_id, email, [pick.paper.id for pick in picks], at)
        else:
            ledger.mark_sent(issue_id, email, [pick.paper.id for pick in picks], at=at)
        report.sent += 1
        report.delivered_to.append(outcome.where or "")
    elif not outcome.attempted:
        ledger.mark_failed(issue_id, email, "not attempted: the run stopped first")
        report.not_reached += 1
    elif isinstance(outcome.error, UncertainError):
        papers = [pick.paper.id for pick in picks]
        ledger.mark_sent(issue_id, email, papers, note=f"uncertain: {outcome.error}", at=at)
        report.uncertain += 1
        report.problems.append(f"{email}: uncertain: {outcome.error}")
    elif isinstance(outcome.error, BounceError):
        ledger.mark_bounced(issue_id, email, outcome.error.code, str(outcome.error))
        report.bounced += 1
        report.bounced_addresses.append(email)
        report.problems.append(f"{email} bounced: {outcome.error}")
    else:
        ledger.mark_failed(issue_id, email, str(outcome.error))
        report.failed += 1
        report.problems.append(f"{email}: {outcome.error}")


def mark_bounced(listed: SubscriberStore, emails: list[str], now: datetime) -> list[str]:
    """Say `status: bounced` in the list too, in one change at the end of the run, so that
    `digest subscribers` and the web pages show it. The ledger already stops mail to them:
    a list that cannot be changed now (held by an edit) is reported, nothing more."""
    try:
        listed.apply_all([(email, Bounce()) for email in emails], now=now)
    except DigestError as exc:
        return [f"{listed.where}: could not mark bounced addresses: {p}" for p in exc.problems]
    return []


def backend_opener(config: Config) -> tuple[Callable, int]:
    """A function opening one delivery backend (one SMTP connection or HTTP client each), tried
    once now so that a bad URL, a missing key or password or a bad DKIM key is a usage error
    before anything is claimed; and how many messages a backend takes a call."""
    config.check_smtp_login()

    def open_one():
        return open_backend(config.delivery, config.root)

    probe = open_one()
    probe.close()
    return open_one, batch_size(probe)


def write_archive(config: Config, builder: Builder) -> tuple[str, list[str]]:
    """The issue's web page, index and feed: (page, problems). A failure here is reported and
    the mail still goes out: readers should not miss an issue over the web copy. A week's or a
    month's issue has none of its own: its link opens its last day's page."""
    if builder.window is not None and not builder.window.single_day:
        return "", []
    from . import archive  # only when the archive is on

    try:
        written = archive.write(config, builder)
    except DigestError as exc:  # names the file and the folder already
        return "", exc.problems
    except OSError as exc:
        return "", [f"archive {config.archive}: {exc.strerror or exc}"]
    return str(written.page), written.problems
