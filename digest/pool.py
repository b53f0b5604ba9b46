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

`stop()` (the caller's error threshold, Ctrl-C; the pool itself on a FatalError) finishes
the deliveries under way and hands back every job not yet started as an outcome with
`attempted=False`.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .delivery import Backend, DeliveryError, FatalError, TransientError
from .mail import Envelope


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
    ):
        self.open_backend = open_backend
        self.workers = workers
        self.capacity = 2 * workers  # one in each worker's hands, one waiting for each
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
        job: Job | None = None
        try:
            while (job := self._next()) is not None:
                if backend is None:
                    backend = self.open_backend()
                self.rate.wait()
                job.attempts += 1
                try:
                    where = backend.deliver(job.raw, job.envelope)
                except TransientError as exc:
                    if job.attempts <= self.retries and self._later_ok(job):
                        continue
                    self._finish(job, error=exc)
                except DeliveryError as exc:
                    if isinstance(exc, FatalError):  # every next message would fail alike
                        self.stop()
                    self._finish(job, error=exc)
                except Exception as exc:  # a bug in a backend fails its message, not the run
                    self._finish(job, error=DeliveryError(f"{type(exc).__name__}: {exc}"))
                else:
                    self._finish(job, where=where)
        except Exception as exc:  # opening a backend failed: this worker is done
            if job is not None:
                error = exc if isinstance(exc, DeliveryError) else DeliveryError(str(exc))
                self._finish(job, error=error)
            self.stop()
        finally:
            if backend is not None:
                backend.close()

    def _next(self) -> Job | None:
        """The next job to try: one whose retry is due first, else a new one; None once
        stopping, or once the caller has stopped feeding and nothing is left."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                if self._later and self._later[0].due <= now:
                    return heapq.heappop(self._later).job
                if self._ready:
                    return self._ready.popleft()
                wait = self._later[0].due - now if self._later else None
                self._cond.wait(wait)

    def _later_ok(self, job: Job) -> bool:
        """Queue `job` to be tried again after its backoff; False when the pool is stopping."""
        delay = min(self.max_wait, self.backoff * 2 ** (job.attempts - 1))
        delay *= random.uniform(0.5, 1.0)  # spread retries so connections do not stampede
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
