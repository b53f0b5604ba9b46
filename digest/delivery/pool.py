"""Deliver messages over a few persistent connections at once, retrying what may go later.

    for outcome in Pool(open_one, ...).deliver(jobs):   # jobs: built lazily by the caller
        record(outcome)

The caller's thread pulls jobs from its iterable and records outcomes; `workers` threads each
own one backend (one SMTP connection) and only deliver. So the caller's SQLite connection,
templates and ranking stay on one thread, and the GIL is spent building the next message
while the workers wait on the network.

At most `capacity` jobs are in flight (handed over, no outcome recorded yet): the run never
holds more messages than that in memory, and a kill can only catch that many between
"claimed" and "sent". A transient failure goes back in the queue until its backoff has
passed (the worker moves on meanwhile); after `retries` it comes out as failed.

With `batch` > 1 (an HTTP API's batch endpoint, digest/delivery/providers.py) a worker hands its
backend up to `batch` jobs in one call, and `capacity` is two batches: one in a call, one
being built. A worker waits for a full batch, but no longer than `linger` seconds after
its first job came, nor once the caller has nothing more to give. The backend answers for
each job, and each outcome is recorded alone: a batch's transient failure puts its jobs back
one by one, with the wait a `Retry-After` asked for when it is longer than the backoff.

`stop()` (the caller's error threshold, Ctrl-C; the pool itself on a FatalError) finishes
the deliveries under way and hands back every job not yet started as an outcome with
`attempted=False`.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..compose.mail import Envelope
from ..util.retry import backoff
from .backends import Backend, BatchBackend, DeliveryError, FatalError, TransientError


@dataclass
class Job:
    raw: bytes
    envelope: Envelope
    key: Any = None  # whatever the caller needs to record the outcome
    attempts: int = 0


@dataclass
class Outcome:
    job: Job
    where: str | None = None  # set when delivered
    error: DeliveryError | None = None
    attempted: bool = True

    @property
    def delivered(self) -> bool:
        return self.where is not None

    @property
    def retries(self) -> int:
        return max(0, self.job.attempts - 1)


@dataclass(order=True)
class _Later:
    due: float
    seq: int
    job: Job = field(compare=False)


class RateLimit:
    """At most `rate` starts per second over all workers, evenly spaced: each caller is given
    the next free start time and sleeps until then."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1 / rate if rate else 0.0
        self.next = 0.0
        self.lock = threading.Lock()
        self.clock = clock
        self.sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            self.sleep(start - now)


class Pool:
    def __init__(
        self,
        open_backend: Callable[[], Backend],
        *,
        workers: int,
        retries: int = 3,
        backoff: float = 2.0,
        max_wait: float = 60.0,
        rate: float | None = None,
        batch: int = 1,
        linger: float = 2.0,
    ):
        self.open_backend = open_backend
        self.workers = workers
        self.batch = batch
        self.linger = linger
        # One in each worker's hands, one waiting for each. For batches, one batch in a call
        # and one filling: a call of hundreds outruns the building of the next hundreds, and
        # each batch held is megabytes.
        self.capacity = 2 * workers if batch == 1 else 2 * batch
        self._fed = False  # the caller has handed over every job it will
        self._opened: float | None = None  # when the batch now filling got its first job
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.rate = RateLimit(rate)
        self._cond = threading.Condition()
        self._ready: deque[Job] = deque()
        self._later: list[_Later] = []
        self._seq = itertools.count()
        self._stopping = False
        self._done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    # The caller's side.

    def deliver(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Each job's outcome, in the order they finish. An exception from `jobs` (or Ctrl-C)
        stops the pool; the outcomes of what was under way come out first, then it is raised."""
        self._start()
        source = iter(jobs)
        in_flight = 0
        exhausted = False
        failure: BaseException | None = None
        try:
            while True:
                while not exhausted and in_flight < self.capacity and not self._stopping:
                    try:
                        job = next(source)
                    except StopIteration:
                        exhausted = True
                        self._all_fed()
                        break
                    except BaseException as exc:  # noqa: BLE001 - re-raised once the pool is drained
                        failure = exc
                        self.stop()
                        break
                    in_flight += 1
                    self._hand_over(job)
                    # Record what has finished before building more: what is recorded sent
                    # can no longer go twice.
                    while in_flight and (outcome := self._poll()) is not None:
                        in_flight -= 1
                        yield outcome
                if not in_flight:
                    break
                try:
                    outcome = self._done.get()
                except KeyboardInterrupt as exc:
                    failure = failure or exc
                    self.stop()
                    continue
                in_flight -= 1
                yield outcome
        finally:
            self.stop()
            self._join()
        if failure is not None:
            raise failure

    def stop(self) -> None:
        """Start no more deliveries; jobs not yet started come back as not attempted."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            unstarted = list(self._ready) + [later.job for later in self._later]
            self._ready.clear()
            self._later.clear()
            self._cond.notify_all()
        for job in unstarted:
            self._done.put(Outcome(job, attempted=False))

    def _all_fed(self) -> None:
        with self._cond:
            self._fed = True
            self._cond.notify_all()

    def _hand_over(self, job: Job) -> None:
        with self._cond:
            if not self._stopping:
                self._ready.append(job)
                self._cond.notify()
                return
        # A worker stopped the pool while this job was being built: it comes straight back.
        self._done.put(Outcome(job, attempted=False))

    def _poll(self) -> Outcome | None:
        try:
            return self._done.get_nowait()
        except queue.Empty:
            return None

    def _start(self) -> None:
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"deliver-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    # The workers' side.

    def _work(self) -> None:
        backend: Backend | None = None
        jobs: list[Job] = []
        try:
            while jobs := self._next():
                if backend is None:
                    backend = self.open_backend()
                for job in jobs:
                    self.rate.wait()
                    job.attempts += 1
                for job, result in zip(jobs, self._attempt(backend, jobs), strict=True):
                    self._settle(job, result)
                jobs = []
        except Exception as exc:  # opening a backend failed: this worker is done
            error = exc if isinstance(exc, DeliveryError) else DeliveryError(str(exc))
            for job in jobs:
                self._finish(job, error=error)
            self.stop()
        finally:
            if backend is not None:
                backend.close()

    def _attempt(self, backend: Backend, jobs: list[Job]) -> list[str | DeliveryError]:
        """Each job's result: where it went, or its error."""
        try:
            if len(jobs) == 1 and self.batch == 1:
                return [backend.deliver(jobs[0].raw, jobs[0].envelope)]
            batched: BatchBackend = backend  # type: ignore[assignment]
            results = batched.deliver_batch([(job.raw, job.envelope) for job in jobs])
        except DeliveryError as exc:
            return [exc] * len(jobs)
        except Exception as exc:  # a bug in a backend fails its messages, not the run
            return [DeliveryError(f"{type(exc).__name__}: {exc}")] * len(jobs)
        if len(results) != len(jobs):
            return [DeliveryError(f"the backend answered {len(results)} results for {len(jobs)}")] * len(jobs)
        return results

    def _settle(self, job: Job, result: str | DeliveryError) -> None:
        if isinstance(result, str):
            self._finish(job, where=result)
        elif isinstance(result, TransientError):
            asked = result.retry_after
            if asked is not None and asked > self.max_wait:
                self._finish(
                    job,
                    error=TransientError(
                        f"{result}; the server asks to wait {asked:.0f}s, longer than delivery.max_wait "
                        f"({self.max_wait:g}s): left for the next run"
                    ),
                )
            elif not (job.attempts <= self.retries and self._later_ok(job, asked)):
                self._finish(job, error=result)
        else:
            if isinstance(result, FatalError):  # every next message would fail alike
                self.stop()
            self._finish(job, error=result)

    def _next(self) -> list[Job]:
        """The next jobs to try (one, or up to a batch): those whose retry is due first, then
        new ones; none once stopping, or once the caller has stopped feeding and nothing is left."""
        with self._cond:
            while True:
                if self._stopping:
                    return []
                now = time.monotonic()
                due = sum(1 for later in self._later if later.due <= now)
                ready = due + len(self._ready)
                if ready and self._opened is None:
                    self._opened = now
                opened = self._opened
                if ready and (
                    ready >= self.batch or self._fed or (opened is not None and now - opened >= self.linger)
                ):
                    jobs = self._take(now)
                    # What is left starts the next batch's wait now; all workers share that one
                    # clock, so several waiting at once do not split a batch between them.
                    self._opened = now if self._ready or due > len(jobs) else None
                    return jobs
                waits = [self._later[0].due - now] if self._later and not due else []
                if ready and opened is not None:
                    waits.append(opened + self.linger - now)
                self._cond.wait(max(0.0, min(waits)) if waits else None)

    def _take(self, now: float) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < self.batch and self._later and self._later[0].due <= now:
            jobs.append(heapq.heappop(self._later).job)
        while len(jobs) < self.batch and self._ready:
            jobs.append(self._ready.popleft())
        return jobs

    def _later_ok(self, job: Job, asked: float | None = None) -> bool:
        """Queue `job` to be tried again after its backoff, or the wait the server `asked`
        for when longer; False when the pool is stopping."""
        delay = max(backoff(self.backoff, job.attempts, self.max_wait), asked or 0.0)
        with self._cond:
            if self._stopping:
                return False
            heapq.heappush(self._later, _Later(time.monotonic() + delay, next(self._seq), job))
            self._cond.notify()
        return True

    def _finish(self, job: Job, *, where: str | None = None, error: DeliveryError | None = None) -> None:
        job.raw = b""  # the message is done with: do not keep it alive in the outcome
        self._done.put(Outcome(job, where=where, error=error))


@contextmanager
def first_interrupt_stops() -> Iterator[threading.Event]:
    """While sending, a first Ctrl-C sets the event instead of raising, so the caller can stop
    the pool and record what was under way; a second one raises as usual. Signal handlers
    belong to the main thread: elsewhere (a scheduler's worker) nothing changes."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        asked.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, previous)
