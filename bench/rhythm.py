"""Each reader's rhythm: a weekly reader's issue beside a daily one's, and the store's growth
from a snapshot a day of each paper's signals at 1,000 papers a day.

The weekly issue is built from a week's listings (the recorded Hugging Face days 10-14 August
2026 when ../shared/fixtures is here, else the shipped sample under seven days' ids): its per-issue work
(themes, trending, cards) grows with its papers, the per-reader work (picks, render, MIME)
should not, since a reader gets at most `max_papers` either way.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .timing import per_call

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "fixtures" / "hf_daily_papers"
NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
PAPERS_A_DAY = 1_000
SNAPSHOT_DAYS = 30


def _days() -> list[list]:
    from digest.models import Paper
    from digest.sources import file as file_source

    week = [SHARED / f"2026-08-{d:02d}.json" for d in range(8, 15)]  # Saturday 8 to Friday 14
    recorded = [path for path in week if path.exists()]  # the weekdays: 10-14 August
    if len(recorded) == 5:
        return [file_source.read(path) for path in recorded]
    sample = file_source.read(ROOT / "samples" / "papers.jsonl")
    return [[Paper(**{**p.to_dict(), "id": f"{p.id}-{d}"}) for p in sample[:25]] for d in range(7)]


def _issue_cost(papers: list, window) -> tuple[float, float]:
    """Seconds to build the issue (once) and one reader's message from it."""
    from digest import config as config_mod
    from digest.compose.build import Builder, issue_for
    from digest.models import Subscriber

    config = config_mod.load(ROOT / "digest.yaml")
    reader = Subscriber(email="ada@example.org")  # trending only: a full 20 papers either way

    def build() -> Builder:
        return Builder(config, issue_for(config, papers, NOW), NOW, "bench-secret", window)

    built = build()

    def message() -> None:
        built.message(reader, built.picks(reader))

    return per_call(build, repeat=5, number=3), per_call(message, repeat=5, number=10)


def _weekly_beside_daily() -> None:
    from digest.readers.windows import window_for
    from digest.sources import merge

    days = _days()
    daily_papers = days[-1]
    weekly_papers = merge(days)
    daily = _issue_cost(daily_papers, window_for("daily", "2026-08-14"))
    weekly = _issue_cost(weekly_papers, window_for("weekly:fri", "2026-08-14"))
    print(
        f"issue build: daily ({len(daily_papers)} papers) {daily[0] * 1000:.1f} ms, "
        f"weekly ({len(weekly_papers)} papers) {weekly[0] * 1000:.1f} ms: {weekly[0] / daily[0]:.1f}x"
    )
    print(
        f"one reader's message: daily {daily[1] * 1000:.2f} ms, weekly {weekly[1] * 1000:.2f} ms: "
        f"{weekly[1] / daily[1]:.2f}x"
    )


def _pages(db) -> int:
    """The database's size in bytes, write-ahead log included (its pages, not the file's)."""
    (count,), (size,) = db.read("PRAGMA page_count")[0], db.read("PRAGMA page_size")[0]
    return count * size


def _snapshot_growth() -> None:
    from digest.store import Location, open_database

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        with open_database(Location("sqlite", path=path)) as db:
            db.upgrade()
            empty = _pages(db)
            start = date(2026, 8, 1)
            # Each day a thousand papers: half new, half still listed from the day before.
            for d in range(SNAPSHOT_DAYS):
                ids = [f"2608.{(d * PAPERS_A_DAY // 2 + i):05d}" for i in range(PAPERS_A_DAY)]
                day = (start + timedelta(days=d)).isoformat()
                db.record_signals(day, [(pid, i % 97, i % 7, i % 300) for i, pid in enumerate(ids)])
            full = _pages(db)
            last = (start + timedelta(days=SNAPSHOT_DAYS)).isoformat()
            rows = [(pid, 1, 1, 1) for pid in ids]
            record = per_call(lambda: db.record_signals(last, rows), repeat=3, number=2)
            lookup = per_call(lambda: db.signals_before(last, ids), repeat=3, number=3)
    per_day = (full - empty) / SNAPSHOT_DAYS
    print(
        f"snapshots at {PAPERS_A_DAY:,} papers a day (SQLite): {per_day / 1024:.0f} KiB a day, "
        f"{per_day * 365 / 1024**2:.0f} MiB a year; a day's snapshot written in {record * 1000:.1f} ms, "
        f"its papers' earlier snapshots read in {lookup * 1000:.1f} ms"
    )


def run() -> None:
    _weekly_beside_daily()
    _snapshot_growth()
