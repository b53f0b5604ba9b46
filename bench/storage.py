"""Subscriber storage by list size: one subscribe and one unsubscribe on the database table
(SQLite, and PostgreSQL when its server binaries are here) against the YAML file, at 1,000
and 100,000 readers; `send --due` planning over 100,000 readers; peak memory of a
100,000-reader `send --dry-run` beside a 10,000-reader one.

A YAML change locks, re-reads and rewrites the whole file (ruamel.yaml keeps its comments),
so it grows with the list; a database change touches one row and its indexes, so it should
not (target: 100,000 readers within 2x of 1,000).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .send import BENCH_SECRET

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # London readers at 07:00 are all due
SIZES = (1_000, 100_000)
YAML_SIZES = (1_000, 10_000, 100_000)
CHANGES = 30  # subscribes and unsubscribes timed per store and size
# A YAML change at 100,000 readers takes minutes (it rewrites the file): fewer samples there.
YAML_CHANGES = {1_000: 5, 10_000: 1, 100_000: 1}
MEMORY_READERS = (10_000, 100_000)


def _project(folder: Path, *, state: str, subscribers: str, papers: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = (ROOT / "samples" / "papers.jsonl").read_text().splitlines()[:papers]
    (folder / "papers.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "digest.yaml").write_text(
        f"""newsletter:
  name: Trending Papers
  from: "Trending Papers <papers@example.org>"
  base_url: https://papers.example.org
  timezone: Europe/London
sources:
  - kind: file
    path: papers.jsonl
subscribers: {subscribers}
state: {state}
archive: null
delivery:
  url: file://outbox
"""
    )
    return folder / "digest.yaml"


def _yaml_list(path: Path, n: int, **fields) -> None:
    entries = [
        {"email": f"reader{i}@example.org", "timezone": "Europe/London", "topics": ["retrieval"], **fields}
        for i in range(n)
    ]
    path.write_text("# a list\n" + yaml.safe_dump({"subscribers": entries}, sort_keys=False))


def _timed(fn: Callable[[int], object], count: int) -> float:
    """Median seconds of fn(0), fn(1), ... (each a real change)."""
    samples = []
    for i in range(count):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _changes(listed, n: int, count: int, *, unsubscribes: bool = True) -> tuple[float, float]:
    from digest.readers.subscribers import SignUp, Unsubscribe

    subscribe = _timed(lambda i: listed.apply(f"new{i}@example.org", SignUp(), now=NOW), count)
    if not unsubscribes:
        return subscribe, float("nan")
    unsubscribe = _timed(
        lambda i: listed.apply(f"reader{i * 7 % n}@example.org", Unsubscribe(), now=NOW), count
    )
    return subscribe, unsubscribe


def _database(location, n: int):
    from digest.store import open_database
    from tests.helpers_store import fill

    if location.engine == "postgresql":
        with open_database(location, check=False) as db:
            db.upgrade()
    db = open_database(location)
    fill(db, n)
    return db


def _engines(folder: Path, server) -> list[tuple[str, Callable[[int], object]]]:
    from digest.store import Location

    engines: list[tuple[str, Callable[[int], object]]] = []
    engines.append(("sqlite table", lambda n: Location("sqlite", path=folder / f"state-{n}.db")))
    if server is not None:
        engines.append(
            ("postgresql table", lambda n: Location("postgresql", url=server.new_database("bench")))
        )
    return engines


def _postgres():
    try:
        import psycopg  # noqa: F401

        from tests.helpers_postgres import PostgresServer, server_binaries
    except ImportError:
        return None
    binaries = server_binaries()
    return PostgresServer(binaries).start() if binaries else None


def changes(folder: Path, server) -> None:
    from digest.store.yamllist import YamlList

    samples = ", ".join(map(str, YAML_CHANGES.values()))
    print(f"one change to the list, median of {CHANGES} (YAML: of {samples}), ms:")
    print(f"  {'store':<18} {'readers':>9} {'subscribe':>10} {'unsubscribe':>12}")
    for name, location_for in _engines(folder, server):
        figures = {}
        for n in SIZES:
            with _database(location_for(n), n) as db:
                figures[n] = _changes(db.subscriber_table(), n, CHANGES)
            print(f"  {name:<18} {n:>9,} {figures[n][0] * 1e3:>10.2f} {figures[n][1] * 1e3:>12.2f}")
        small, large = figures[SIZES[0]], figures[SIZES[-1]]
        print(
            f"  {name:<18} {'ratio':>9} {large[0] / small[0]:>9.2f}x {large[1] / small[1]:>11.2f}x"
            "   (100,000 / 1,000; target <= 2x)"
        )
    yaml_figures = {}
    for n in YAML_SIZES:
        path = folder / f"subscribers-{n}.yaml"
        _yaml_list(path, n)
        # at 100,000 only a subscribe: an unsubscribe rewrites the same file the same way
        yaml_figures[n] = _changes(YamlList(path), n, YAML_CHANGES[n], unsubscribes=n < 100_000)
        print(
            f"  {'yaml file':<18} {n:>9,} {yaml_figures[n][0] * 1e3:>10.1f} {yaml_figures[n][1] * 1e3:>12.1f}"
        )
    small, large = yaml_figures[YAML_SIZES[0]], yaml_figures[YAML_SIZES[-1]]
    print(f"  {'yaml file':<18} {'ratio':>9} {large[0] / small[0]:>9.0f}x   (100,000 / 1,000)")


def planning(folder: Path, server) -> None:
    """`send --due` when nobody is owed anything: the cron run every few minutes."""
    from digest import config as config_mod
    from digest.jobs import send
    from digest.store import open_database
    from tests.helpers_store import fill

    n = SIZES[-1]
    early = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 07:00 London has not come yet
    joined = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # after yesterday's slot: today's is their first
    print(f"send --due planning, {n:,} readers (list, ledger, each reader's slot; nothing fetched or sent):")
    stores = [("sqlite table", str(folder / "plan.db"))]
    if server is not None:
        stores.append(("postgresql table", server.new_database("plan")))
    for name, state in stores:
        config = config_mod.load(
            _project(folder / name.replace(" ", "-"), state=state, subscribers="database")
        )
        if config.store.engine == "postgresql":
            with open_database(config.store, check=False) as db:
                db.upgrade()
        with open_database(config.store) as db:
            fill(db, n, created=joined)
            with db.transaction() as execute:  # this morning's issue went out at 07:00
                for i in range(n):
                    execute(
                        "INSERT INTO deliveries (issue, email, status, claimed_at) VALUES (?, ?, 'sent', ?)",
                        ("2026-11-26", f"reader{i}@example.org", NOW.isoformat()),
                    )
        for label, moment, field in (
            ("not due yet (06:00)", early, "not_due"),
            ("all sent already (09:00)", NOW, "skipped"),
        ):
            started = time.perf_counter()
            report = send.run(config, now=moment, due=True, log=lambda line: None)
            seconds = time.perf_counter() - started
            if report.sent or getattr(report, field) != n:
                raise SystemExit(
                    f"planning at {moment}: expected {n} {field}, got {report.summary(due=True)}"
                )
            print(f"  {name:<18} {label:<26} {seconds:6.2f} s  ({seconds / n * 1e6:.1f} us per reader)")
    config = config_mod.load(
        _project(folder / "yaml", state=str(folder / "yaml.db"), subscribers="subscribers.yaml")
    )
    _yaml_list(config.list_path, n, created=joined.isoformat())
    started = time.perf_counter()
    report = send.run(config, now=early, due=True, log=lambda line: None)
    seconds = time.perf_counter() - started
    if report.sent or report.not_due != n:
        raise SystemExit(f"planning, YAML: expected {n} not due, got {report.summary(due=True)}")
    per_reader = seconds / n * 1e6
    print(
        f"  {'yaml file':<18} {'not due yet (06:00)':<26} {seconds:6.2f} s  ({per_reader:.1f} us per reader)"
    )


def memory(folder: Path) -> None:
    print("peak memory (max RSS) of send --dry-run, database list, a fresh process each:")
    peaks = {}
    for n in MEMORY_READERS:
        project = folder / f"memory-{n}"
        config_path = _project(project, state="state.db", subscribers="database", papers=3)
        from digest import config as config_mod
        from digest.store import open_database

        with open_database(config_mod.load(config_path).store) as db:
            from tests.helpers_store import fill

            fill(db, n, max_papers=1)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.storage", "--memory", str(config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DIGEST_SECRET": BENCH_SECRET},
        )
        seconds = time.perf_counter() - started
        peaks[n] = float(done.stdout.strip().splitlines()[-1])
        print(f"  {n:>9,} readers  {peaks[n]:6.0f} MB  ({seconds:.0f} s, every message built)")
    small, large = MEMORY_READERS
    print(f"  {'ratio':>9}          {peaks[large] / peaks[small]:6.2f}x for {large // small}x the readers")
    shutil.rmtree(folder, ignore_errors=True)


def _measure_memory(config_path: str) -> None:
    from digest import config as config_mod
    from digest.jobs import send

    report = send.run(config_mod.load(Path(config_path)), now=NOW, dry_run=True, log=lambda line: None)
    assert report.dry_run, report.problems[:3]
    status = Path("/proc/self/status").read_text()
    print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024)


def run() -> None:
    os.environ.setdefault("DIGEST_SECRET", BENCH_SECRET)
    server = _postgres()
    if server is None:
        print("(PostgreSQL skipped: no server binaries or psycopg here)")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            changes(Path(tmp) / "changes", server)
            planning(Path(tmp) / "planning", server)
            memory(Path(tmp) / "memory")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        _measure_memory(sys.argv[2])
    else:
        run()
