"""Messages per second through each mail provider's API backend, side by side with SMTP.

500 readers' messages of the shipped sample issue, built once up front, delivered by the
send run's own pool (digest/delivery/pool.py: `delivery.concurrency` workers, batches where the
provider has them) to:

- each provider's API on the loopback replay server (tests/helpers_providers.py), which
  answers as the provider's documentation shows;
- the aiosmtpd sink of bench/send.py, over persistent SMTP connections, as the yardstick.

Every server runs in a process of its own, so it never holds the sender's GIL. Each is run
twice, alternating; the better of each is reported, with its ratio to SMTP. What is measured
is the client's cost per message (for Postmark, SendGrid and Resend: reading the composed
message back into the API's fields) and a call's round trip, never a provider's own speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.send import BENCH_SECRET, ROOT, Sink, prebuilt, write_project
from tests.helpers_providers import KEYS

READERS = 500
CONCURRENCY = 4
ROUNDS = 2


def _serve(provider: str) -> None:
    """In the child: the provider's API on loopback until stdin closes."""
    from tests.helpers_http import ReplayServer
    from tests.helpers_providers import Api

    with ReplayServer() as server:
        api = Api.on(server, provider)
        print(api.url, flush=True)
        sys.stdin.read()


class _Api:
    def __init__(self, provider: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.providers", "--serve", provider],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def _deliver(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Seconds for the send run's pool to deliver `messages` to `url`."""
    from digest.compose.mail import Envelope
    from digest.config import Delivery
    from digest.delivery.backends import batch_size, open_backend
    from digest.delivery.pool import Job, Pool

    settings = Delivery(url=url, concurrency=CONCURRENCY, retries=0)

    def open_one():
        return open_backend(settings, Path("."))

    probe = open_one()
    batch = batch_size(probe)
    probe.close()
    pool = Pool(open_one, workers=CONCURRENCY, retries=0, batch=batch)
    jobs = [
        Job(
            raw, Envelope("Trending Papers <papers@example.org>", email, None, "2026-11-26", "t", "https://u")
        )
        for email, raw in messages
    ]
    started = time.perf_counter()
    outcomes = list(pool.deliver(jobs))
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if not o.delivered]
    if failed:
        raise SystemExit(f"{url}: {len(failed)} not delivered: {failed[0].error}")
    return seconds


def run() -> None:
    for name, value in {k: v for keys in KEYS.values() for k, v in keys.items()}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("DIGEST_SECRET", BENCH_SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_project(Path(tmp), readers=READERS, url="console://")
        messages = prebuilt(config)
    size = sum(len(raw) for _, raw in messages) / len(messages)
    print(f"{len(messages)} messages of {size / 1000:.0f} KB on average, {CONCURRENCY} workers")
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        with Sink() as sink:
            seconds = _deliver(f"smtp://127.0.0.1:{sink.port}", messages)
        best["smtp"] = min(best.get("smtp", seconds), seconds)
        for provider in KEYS:
            api = _Api(provider)
            try:
                seconds = _deliver(api.url, messages)
            finally:
                api.close()
            best[provider] = min(best.get(provider, seconds), seconds)
    smtp = len(messages) / best["smtp"]
    for name, seconds in best.items():
        rate = len(messages) / seconds
        print(f"  {name:9s} {rate:7.0f} msg/s   {rate / smtp:5.2f}x smtp")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2])
