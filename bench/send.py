"""`digest send` end to end against raw SMTP delivery of the same messages, and peak memory.

2,000 readers each getting a 20-paper digest of the shipped sample issue, delivered to an
aiosmtpd sink on loopback that runs in its own process (so it has a core of its own and never
holds the sender's GIL). Two lists: one where readers share nothing (keywords of their own,
so nearly every message is different) and a public list where they share the default picks
(no preferences: one body, each reader's address and links spliced in). Side by side, in one
run, 3 repetitions alternating (min / median / max of the ratio, by repetition):

- end to end: `send.run` as `digest send` runs it: load readers, group the issue, then per
  reader rank, claim, render, compose, deliver over `delivery.concurrency` persistent
  connections, record in the ledger;
- raw delivery: the same number of messages, built beforehand with the same sizes, sent with
  plain smtplib over the same number of persistent connections to the same sink.

Then libraries: the first send to 300 readers who share one 200-paper BibTeX library against
the same send with no libraries (profiles are made once per distinct library). Then peak
memory (max RSS) of a whole `send --dry-run` for 10,000 and 100,000 readers, each in a fresh
process: it should stay flat, since messages are built as they go and nothing per reader is
kept. Sizes can be cut for a quick look: BENCH_SEND_READERS, BENCH_SEND_MEMORY=10000,100000.
"""

from __future__ import annotations

import os
import queue
import random
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
READERS = int(os.environ.get("BENCH_SEND_READERS", "2000"))
MEMORY_READERS = tuple(int(n) for n in os.environ.get("BENCH_SEND_MEMORY", "10000,100000").split(","))
LIBRARY_READERS = int(os.environ.get("BENCH_SEND_LIBRARY_READERS", "300"))
LIBRARY_PAPERS = 200
REPEAT = 3
CONCURRENCY = 4
BENCH_SECRET = "bench-secret-for-signing-links-0123456789"
TERMS = [
    "language model", "reasoning", "agent", "video", "diffusion", "retrieval", "speech",
    "robot", "benchmark", "reinforcement learning", "vision", "3d", "multimodal", "code",
    "image", "audio", "alignment", "efficient", "tokenizer", "generation", "graph", "medical",
]  # fmt: skip


def write_project(
    folder: Path, *, readers: int, url: str, shared: bool = False, library: str | None = None
) -> Path:
    """A project of `readers` readers: with keywords of their own, or (`shared`) none, so
    they all get the default picks; `library`: a file every reader names."""
    rng = random.Random(6)
    lines = ["subscribers:"]
    for i in range(readers):
        lines.append(f"  - email: reader{i:06d}@example.org")
        if not shared:
            lines.append(f"    keywords: [{', '.join(rng.sample(TERMS, rng.randint(2, 4)))}]")
        if library:
            lines.append(f"    library: {library}")
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
libraries:
  lookup: false
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
    from digest import sources
    from digest.compose.build import Builder, make_issue
    from digest.issue import themes
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


def end_to_end(config_path: Path, readers: int = READERS) -> tuple[float, int]:
    """Seconds for a whole `digest send` on a fresh ledger, and how many it sent."""
    from digest import config as config_mod
    from digest.jobs import send

    config = config_mod.load(config_path)
    state = config.store.path
    for stale in state.parent.glob(state.name + "*"):
        if stale.is_file():
            stale.unlink()
    started = time.perf_counter()
    report = send.run(config, now=NOW, log=lambda line: None)
    seconds = time.perf_counter() - started
    if report.sent != readers:
        raise SystemExit(f"end to end sent {report.sent} of {readers}: {report.problems[:3]}")
    return seconds, report.sent


def peak_memory(readers: int) -> float:
    """Max RSS in MB of a fresh process running a whole `send --dry-run` to `readers` readers."""
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
    """In the child: a dry run (its lines discarded by the parent), report peak RSS. VmHWM,
    not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec, so a
    child of a big parent would report the parent's size."""
    from digest import config as config_mod
    from digest.jobs import send

    config = config_mod.load(Path(folder) / "digest.yaml")
    report = send.run(config, now=NOW, dry_run=True, log=print)
    assert report.dry_run and not report.failed, report.problems[:3]
    sys.stdout.flush()
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(peak_kb / 1024, file=sys.stderr)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def versus_raw(sink: Sink, folder: Path, *, shared: bool) -> None:
    """End to end against raw delivery, REPEAT times alternating, for one kind of list."""
    config_path = write_project(folder, readers=READERS, url=f"smtp://127.0.0.1:{sink.port}", shared=shared)
    messages = prebuilt(config_path)
    sizes = sorted(len(raw) for _, raw in messages)
    raw_rates, e2e_rates = [], []
    for _ in range(REPEAT):
        raw_rates.append(READERS / raw_delivery(sink.port, messages))
        e2e_rates.append(READERS / end_to_end(config_path)[0])
    del messages
    ratios = [e / r for e, r in zip(e2e_rates, raw_rates, strict=True)]
    low, middle, high = (sizes[i] / 1024 for i in (0, len(sizes) // 2, -1))
    kind = "a public list (all share the default picks)" if shared else "a list that shares nothing"
    print(f"  {kind}: messages {low:.1f}-{high:.1f} KB (median {middle:.1f} KB)")
    print(f"    raw delivery, pre-built messages   {spread(raw_rates)} msg/s (min / median / max)")
    print(f"    digest send, end to end            {spread(e2e_rates)} msg/s")
    print(f"    end to end / raw                   {spread(ratios)}  (target >= 0.80 median)")


def library_bib(path: Path) -> None:
    """A 200-paper BibTeX library (titles and abstracts: no lookup needed)."""
    from bench.rank import library_pool

    entry = "@article{{p{i},\n  title = {{{title}}},\n  abstract = {{{abstract}}},\n  year = {{2025}}\n}}\n"
    papers = library_pool()[:LIBRARY_PAPERS]
    clean = str.maketrans("{}", "()")
    path.write_text(
        "".join(
            entry.format(i=i, title=p.title.translate(clean), abstract=p.abstract.translate(clean))
            for i, p in enumerate(papers)
        )
    )


def with_libraries(sink: Sink, folder: Path) -> None:
    """The first send to readers sharing one library, against the same send without."""
    library_bib(folder / "library.bib")
    url = f"smtp://127.0.0.1:{sink.port}"
    plain, shared = [], []
    for _ in range(REPEAT):
        for library, out in ((None, plain), ("library.bib", shared)):
            config_path = write_project(folder, readers=LIBRARY_READERS, url=url, library=library)
            out.append(end_to_end(config_path, LIBRARY_READERS)[0])  # a fresh ledger: no stored profile
    ratios = [s / p for s, p in zip(shared, plain, strict=True)]
    print(f"  {LIBRARY_READERS} readers sharing a {LIBRARY_PAPERS}-paper library, first send:")
    print(f"    without libraries                  {spread(plain)} s (min / median / max)")
    print(f"    with the shared library            {spread(shared)} s")
    print(f"    with / without                     {spread(ratios)}  (target <= 2 median)")


def run() -> None:
    os.environ.setdefault("DIGEST_SECRET", BENCH_SECRET)
    print(f"{READERS} readers, {CONCURRENCY} connections, {REPEAT} repetitions alternating")
    with Sink() as sink:
        for shared in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                versus_raw(sink, Path(tmp), shared=shared)
        with tempfile.TemporaryDirectory() as tmp:
            with_libraries(sink, Path(tmp))
    expected = REPEAT * (2 * 2 * READERS + 2 * LIBRARY_READERS)
    if sink.counted[0] != expected:
        raise SystemExit(f"the sink counted {sink.counted[0]} messages, expected {expected}")
    print(f"  the sink counted {sink.counted[0]} messages")
    memory = {n: peak_memory(n) for n in MEMORY_READERS}
    small, large = MEMORY_READERS
    print(
        f"  peak memory, send --dry-run        {memory[small]:7.0f} MB for {small:,} readers, "
        f"{memory[large]:.0f} MB for {large:,} ({memory[large] / memory[small]:.2f}x; target <= 1.10)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        _measure_memory(sys.argv[2])
    else:
        run()
