"""`digest send` end to end against raw SMTP delivery of the same messages, and peak memory.

2,000 readers with keywords of their own, each getting a personalised 20-paper digest of the
shipped sample issue, delivered to an aiosmtpd sink on loopback that runs in its own process
(so it has a core of its own and never holds the sender's GIL). Side by side, in one run:

- end to end: `send.run` as `digest send` runs it: load readers, group the issue, then per
  reader rank, claim, render, compose, deliver over `delivery.concurrency` persistent
  connections, record in the ledger;
- raw delivery: the same number of messages, built beforehand with the same sizes, sent with
  plain smtplib over the same number of persistent connections to the same sink.

Each is run twice, alternating; the better of each is reported. Then peak memory (max RSS)
of a whole `send.run` for 2,000 and 20,000 readers, each in a fresh process, to console://
with its output thrown away: it should stay flat, since messages are built as the pool has
room for them and dropped once delivered.
"""

from __future__ import annotations

import os
import queue
import random
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
READERS = 2000
MEMORY_READERS = (2000, 20000)
CONCURRENCY = 4
BENCH_SECRET = "bench-secret-for-signing-links-0123456789"
TERMS = [
    "language model", "reasoning", "agent", "video", "diffusion", "retrieval", "speech",
    "robot", "benchmark", "reinforcement learning", "vision", "3d", "multimodal", "code",
    "image", "audio", "alignment", "efficient", "tokenizer", "generation", "graph", "medical",
]  # fmt: skip


def write_project(folder: Path, *, readers: int, url: str) -> Path:
    rng = random.Random(6)
    lines = ["subscribers:"]
    for i in range(readers):
        lines.append(f"  - email: reader{i:05d}@example.org")
        lines.append(f"    keywords: [{', '.join(rng.sample(TERMS, rng.randint(2, 4)))}]")
        lines.append("    max_papers: 20")
    (folder / "subscribers.yaml").write_text("\n".join(lines) + "\n")
    (folder / "digest.yaml").write_text(
        f"""newsletter:
  name: Trending Papers
  from: "Trending Papers <papers@example.org>"
  base_url: https://papers.example.org
  timezone: UTC
sources:
  - kind: file
    path: {ROOT / "samples" / "papers.jsonl"}
subscribers: subscribers.yaml
state: state.db
archive: null
ranking:
  min_score: 0
delivery:
  url: {url}
  concurrency: {CONCURRENCY}
"""
    )
    return folder / "digest.yaml"


class Sink:
    """bench/sink.py in a process of its own."""

    def __enter__(self) -> Sink:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.sink"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self.process.communicate("", timeout=60)
        self.counted = tuple(map(int, out.split()))


def prebuilt(config_path: Path) -> list[tuple[str, bytes]]:
    """Every reader's message, built up front: the raw baseline sends exactly these sizes."""
    from digest import config as config_mod
    from digest import sources, themes
    from digest.build import Builder, make_issue
    from digest.store import yamllist

    config = config_mod.load(config_path)
    papers = sources.collect(config.sources, day=NOW.date(), options=config.fetch).papers
    builder = Builder(config, make_issue(papers, NOW, "UTC", themes.load_taxonomy()), NOW, "bench")
    out = []
    for reader in yamllist.load(config.list_path):
        message = builder.message(reader, builder.picks(reader))
        out.append((reader.email, message.raw))
    return out


def raw_delivery(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Seconds to send `messages` with plain smtplib, one persistent connection per thread."""
    todo: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
    for item in messages:
        todo.put(item)

    def worker() -> None:
        smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost")
        while True:
            try:
                rcpt, raw = todo.get_nowait()
            except queue.Empty:
                break
            smtp.sendmail("papers@example.org", [rcpt], raw)
        smtp.quit()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def end_to_end(config_path: Path) -> tuple[float, int]:
    """Seconds for a whole `digest send` on a fresh ledger, and how many it sent."""
    from digest import config as config_mod
    from digest import send

    config = config_mod.load(config_path)
    state = config.store.path
    for stale in state.parent.glob(state.name + "*"):
        if stale.is_file():
            stale.unlink()
    started = time.perf_counter()
    report = send.run(config, now=NOW, log=lambda line: None)
    seconds = time.perf_counter() - started
    if report.sent != READERS:
        raise SystemExit(f"end to end sent {report.sent} of {READERS}: {report.problems[:3]}")
    return seconds, report.sent


def peak_memory(readers: int) -> float:
    """Max RSS in MB of a fresh process running a whole send to `readers` readers."""
    with tempfile.TemporaryDirectory() as tmp:
        write_project(Path(tmp), readers=readers, url="console://")
        done = subprocess.run(
            [sys.executable, "-m", "bench.send", "--memory", tmp],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,  # the messages themselves
            stderr=subprocess.PIPE,
            text=True,
            check=True,
            env={**os.environ, "DIGEST_SECRET": BENCH_SECRET},
        )
    return float(done.stderr.strip().splitlines()[-1])


def _measure_memory(folder: str) -> None:
    """In the child: send to console:// (output discarded by the parent), report peak RSS.
    VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec,
    so a child of a big parent would report the parent's size."""
    from digest import config as config_mod
    from digest import send

    config = config_mod.load(Path(folder) / "digest.yaml")
    report = send.run(config, now=NOW, log=lambda line: None)
    assert report.sent and not report.failed, report.problems[:3]
    sys.stdout.flush()
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(peak_kb / 1024, file=sys.stderr)


def run() -> None:
    os.environ.setdefault("DIGEST_SECRET", BENCH_SECRET)
    with tempfile.TemporaryDirectory() as tmp, Sink() as sink:
        config_path = write_project(Path(tmp), readers=READERS, url=f"smtp://127.0.0.1:{sink.port}")
        messages = prebuilt(config_path)
        sizes = sorted(len(raw) for _, raw in messages)
        raw_seconds, e2e_seconds = [], []
        for _ in range(2):
            raw_seconds.append(raw_delivery(sink.port, messages))
            e2e_seconds.append(end_to_end(config_path)[0])
        del messages
    expected = 4 * READERS
    if sink.counted[0] != expected:
        raise SystemExit(f"the sink counted {sink.counted[0]} messages, expected {expected}")
    raw_rate, e2e_rate = READERS / min(raw_seconds), READERS / min(e2e_seconds)
    low, middle, high = (sizes[i] / 1024 for i in (0, len(sizes) // 2, -1))
    print(
        f"{READERS} readers, {CONCURRENCY} connections, messages {low:.1f}-{high:.1f} KB "
        f"(median {middle:.1f} KB); the sink counted {sink.counted[0]} messages"
    )
    print(f"  raw delivery, pre-built messages   {raw_rate:7.0f} msg/s  ({min(raw_seconds):.2f}s)")
    print(f"  digest send, end to end            {e2e_rate:7.0f} msg/s  ({min(e2e_seconds):.2f}s)")
    print(f"  end to end / raw                   {e2e_rate / raw_rate:7.2f}    (target >= 0.80)")
    memory = {n: peak_memory(n) for n in MEMORY_READERS}
    small, large = MEMORY_READERS
    print(
        f"  peak memory, console://            {memory[small]:7.0f} MB for {small:,} readers, "
        f"{memory[large]:.0f} MB for {large:,} ({memory[large] / memory[small]:.2f}x)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        _measure_memory(sys.argv[2])
    else:
        run()
