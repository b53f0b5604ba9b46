"""`digest schedule`: a long-running process that sends each reader's digest at their time.

It keeps one APScheduler job per upcoming send slot (a `DateTrigger` at the UTC instant of a
reader's next `send_at` in their own time zone, from `digest.readers.due`; readers who share an
instant share a job). A job is one `send --due` run: one fetch of the sources for everyone
whose slot has come, through the ledger, so the scheduler and a cron job can run side by side
without sending anything twice. After each run, and whenever the list changes (checked every
`--poll` seconds), the jobs are planned again from the list.

Choices, deliberately:
- `misfire_grace_time=None`: a job that fires late (the machine slept, a long send run held
  the single worker) still runs. Lateness is harmless here: the run sends only the issue that
  is current at that moment, to readers who have not had it, so a late run delivers late
  rather than not at all, and can never send yesterday's issue or send twice. APScheduler's
  default of one second would silently drop the morning's digest after a short stall.
- `coalesce=True`: if several runs of a job were missed (the reload check, after a stall),
  run it once. One run catches up everything anyway.
- one worker thread and `max_instances=1`: runs never overlap inside the process; the send
  lock serialises them with cron too.
- on start, one catch-up run, as `send --due` from cron would make: readers mailed before
  whose slot passed while the scheduler was down get the current issue (within the catch-up
  window, digest/readers/due.py); on a fresh state it mails nobody, and records who it saw.
- SQLite: a lock file, one scheduler per deployment (per state file); a second one exits at
  once. PostgreSQL: several schedulers on several machines may share the database; the
  ledger's claims keep them from mailing anyone twice.
- SIGTERM / SIGINT: no new runs start; a run in progress finishes (a killed run would be
  safe too: the ledger resumes it), then the process exits with 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

from ..config import Config
from ..errors import EXIT_OK, DigestError
from ..readers.due import next_slot
from ..store import SubscriberStore, stores
from ..util import output
from . import history, send

log = logging.getLogger("digest.schedule")

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


class Daemon:
    """The scheduler's state: the clock, the planned slots, the file it watches."""

    def __init__(
        self, config: Config, listed: SubscriberStore, *, start: datetime | None = None, poll: float = 10.0
    ):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.config = config
        self.listed = listed
        self.poll = poll
        # --now: the clock starts at that instant and runs at normal speed, to rehearse a
        # morning (a DST change, say) in real time.
        self.offset = (start - datetime.now(UTC)) if start else timedelta(0)
        self.signature = self._signature()
        self.last_run = datetime.min.replace(tzinfo=UTC)
        self.busy = threading.Lock()  # held by a send run and the planning after it
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)}, job_defaults=JOB_DEFAULTS, timezone=UTC
        )

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def _real(self, moment: datetime) -> datetime:
        return moment - self.offset

    def _signature(self) -> object:
        try:
            return self.listed.signature()
        except DigestError as exc:  # the database is down: try again at the next poll
            log.error("%s", "; ".join(exc.problems))
            return self.signature if hasattr(self, "signature") else None

    # --- jobs --------------------------------------------------------------------------------

    def plan(self) -> None:
        """One job per distinct next-slot instant of the active readers; stale jobs go. The
        list is read as `send.run` reads it, checked whole then streamed: never held whole."""
        slots: dict[datetime, int] = {}
        readers = 0
        try:
            problems = self.listed.problems()
            if problems:
                raise DigestError(problems)
            after = max(self.now(), self.last_run)
            for reader in self.listed.readers():
                if reader.active:
                    at = next_slot(reader, after).at
                    slots[at] = slots.get(at, 0) + 1
                    readers += 1
        except DigestError as exc:
            for problem in exc.problems:
                log.error("%s", problem)
            log.error("%s has problems: keeping the previous plan until it is fixed", self.listed.where)
            return
        wanted = {f"slot {at.isoformat()}": at for at in slots}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("slot ") and job.id not in wanted:
                job.remove()
        for job_id, at in wanted.items():
            if self.scheduler.get_job(job_id) is None:
                self.scheduler.add_job(
                    self.run_slot, "date", run_date=self._real(at), args=[at], id=job_id, name=job_id
                )
        if slots:
            first = min(slots)
            log.info(
                "planned %d reader(s) in %d slot(s); next %s (%d reader(s))",
                readers, len(slots), first.isoformat(), slots[first],
            )  # fmt: skip
        else:
            log.info("no active readers: nothing planned")

    def run_slot(self, slot: datetime) -> None:
        with self.busy:
            if not self.stopping.is_set():
                self._run_slot(slot)

    def _run_slot(self, slot: datetime) -> None:
        moment = max(self.now(), slot)
        try:
            with history.recorded(self.config, "schedule", now=moment, log=log.warning) as record:
                report = send.run(self.config, now=moment, due=True, log=log.info)
                record.send(report)
        except Exception as exc:  # a bad list or a full disk must not end the daemon
            log.error("send run at %s failed: %s", moment.isoformat(), exc)
        else:
            for problem in report.problems:
                log.error("%s", problem)
            for warning in report.warnings:
                log.warning("%s", warning)
            log.info(
                "send at %s: issues %s: %s",
                moment.isoformat(), report.issue or "(none due)", report.summary(due=True),
            )  # fmt: skip
        self.last_run = max(self.last_run, slot)
        self.plan()

    def check_for_changes(self) -> None:
        signature = self._signature()
        if signature != self.signature:
            self.signature = signature
            # A run, not just a new plan: an entry added or moved to another time zone by
            # hand may be owed today's issue already. A run that owes nobody fetches nothing.
            log.info("%s changed: sending what is owed and planning again", self.listed.where)
            self.run_slot(self.now())

    # --- life cycle --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.scheduler.start()
        start = self.now()
        self.scheduler.add_job(self.run_slot, "date", run_date=self._real(start), args=[start], id="catch-up")
        self.scheduler.add_job(self.check_for_changes, "interval", seconds=self.poll, id="watch")
        log.info("scheduler started at %s (pid %d)", start.isoformat(), os.getpid())
        stop.wait()
        log.info("stopping: waiting for a run in progress to finish")
        # Wait for the run here, not in shutdown(): APScheduler's shutdown holds the job store
        # lock while it waits, and a run ends by planning jobs, which needs that lock.
        self.stopping.set()
        with self.busy:
            pass
        self.scheduler.shutdown(wait=True)
        log.info("stopped")


def main(config: Config, *, start: datetime | None = None, poll: float = 10.0) -> int:
    output.configure_logging("%(asctime)s %(message)s", stream=sys.stdout)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with stores(config) as opened, opened.database.one_scheduler():
        Daemon(config, opened.subscribers, start=start, poll=poll).run(stop)
    return EXIT_OK
