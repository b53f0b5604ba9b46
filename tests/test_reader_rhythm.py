"""Each reader's rhythm: a weekly or monthly reader's issue holds the papers of the days since
their previous issue, ranked over that window, on Hugging Face's recorded days (3-14 August
2026, Monday to Friday twice) replayed on loopback; daily readers on the same list are
unaffected, and no paper reaches a reader twice."""

from __future__ import annotations

import email
import json
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.jobs import send
from digest.models import Subscriber
from digest.readers.due import next_slot, runs_on
from digest.readers.windows import window_for

from .helpers_http import ReplayServer, hf_daily_papers, with_etags

NEWSLETTER = """\
newsletter:
  name: Trending Papers
  from: "Trending Papers <papers@example.org>"
  base_url: https://papers.example.org
  address: "1 Example Street, Cambridge"
sources:
  - kind: hf_daily
    url: {url}
subscribers: subscribers.yaml
state: .digest/state.db
delivery:
  url: file://outbox
"""

READERS = """\
subscribers:
  - email: daily@example.org
    created: 2026-08-01T00:00:00Z
  - email: weekly@example.org
    frequency: weekly:mon
    created: 2026-08-01T00:00:00Z
    max_papers: 10
"""

PAPER_LINK = re.compile(r"huggingface\.co/papers/(\d{4}\.\d{4,5})")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def recorded(shared_fixtures) -> dict[str, Path]:
    return {p.stem: p for p in sorted((shared_fixtures / "hf_daily_papers").glob("2026-08-*.json"))}


@pytest.fixture
def hf(recorded):
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = with_etags(hf_daily_papers(recorded))
        yield server


@pytest.fixture
def listed(recorded) -> dict[str, dict[str, int]]:
    """Each recorded day's papers and their upvotes, read straight from the files."""
    return {
        day: {entry["paper"]["id"]: entry["paper"]["upvotes"] for entry in json.loads(path.read_bytes())}
        for day, path in recorded.items()
    }


def newsletter(folder: Path, url: str, readers: str = READERS) -> config_mod.Config:
    (folder / "digest.yaml").write_text(NEWSLETTER.format(url=url))
    (folder / "subscribers.yaml").write_text(readers)
    return config_mod.load(folder / "digest.yaml")


def mailed(folder: Path) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(reader, issue) -> (subject, paper ids) of every message in the outbox."""
    found = {}
    for path in sorted((folder / "outbox").rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined,union-attr]
        found[path.stem.split("@")[0], path.parent.name] = (
            str(message["Subject"]),
            list(dict.fromkeys(PAPER_LINK.findall(text))),
        )
    return found


def test_a_weekly_readers_issue_holds_the_weeks_best_papers_from_every_day_of_the_window(
    tmp_path, hf, listed
):
    config = newsletter(tmp_path, hf.url)
    quiet = lambda _: None  # noqa: E731
    send.run(config, now=at("2026-08-09T12:00:00"), due=True, log=quiet)  # the first run sees them
    report = send.run(config, now=at("2026-08-10T07:30:00"), due=True, log=quiet)
    assert (report.sent, report.problems) == (2, [])
    got = mailed(tmp_path)

    # Monday 10 August's weekly issue holds Tuesday 4 to Monday 10 August.
    subject, weekly = got["weekly", "2026-08-10"]
    assert subject.startswith("This week: ")
    window = [d.isoformat() for d in window_for("weekly:mon", "2026-08-10").days]
    upvotes = {pid: n for day in window for pid, n in listed.get(day, {}).items()}
    day_of = {pid: day for day in window for pid in listed.get(day, {})}
    assert set(weekly) <= set(upvotes)
    most_upvoted = sorted(upvotes, key=lambda pid: -upvotes[pid])[:3]  # 96, 93 and 67, 4-5 Aug
    assert set(most_upvoted) <= set(weekly)
    assert len({day_of[pid] for pid in weekly}) >= 3  # not only Monday's papers
    assert "2026-08-04" in {day_of[pid] for pid in weekly}

    # Each paper's upvotes as the sources said them, kept as that day's snapshot (one a day).
    db = sqlite3.connect(tmp_path / ".digest" / "state.db")
    try:
        kept = dict(db.execute("SELECT paper_id, upvotes FROM paper_signals WHERE day = '2026-08-10'"))
    finally:
        db.close()
    assert {pid: kept.get(pid) for pid in upvotes} == upvotes

    # The daily reader on the same list gets Monday's listing, as before.
    subject, daily = got["daily", "2026-08-10"]
    assert not subject.startswith("This ")
    assert daily and set(daily) <= set(listed["2026-08-10"])


def test_three_weeks_of_hourly_due_runs_send_each_reader_their_issues_and_no_paper_twice(
    tmp_path, hf, listed
):
    config = newsletter(
        tmp_path,
        hf.url,
        READERS
        + "  - email: monthly@example.org\n    frequency: monthly:12\n    created: 2026-08-01T00:00:00Z\n",
    )
    quiet = lambda _: None  # noqa: E731
    start, end = at("2026-08-03T00:00:00"), at("2026-08-24T00:00:00")
    # Hourly cron over three weeks, run at the hours that matter (each slot, the hour after it,
    # the next morning's) and every fifth hour besides: the rest find nobody due either way.
    readers = [Subscriber(email="x@example.org", frequency=f) for f in ("daily", "weekly:mon", "monthly:12")]
    instants = {start + timedelta(hours=h) for h in range(0, 21 * 24, 5)}
    hour = start
    while hour < end:
        for reader in readers:
            slot = next_slot(reader, hour - timedelta(minutes=1))
            if slot.at == hour:
                instants |= {hour, hour + timedelta(hours=1), hour + timedelta(hours=3)}
        hour += timedelta(hours=1)
    for now in sorted(t for t in instants if t < end):
        report = send.run(config, now=now, due=True, log=quiet)
        assert (report.failed, report.problems) == (0, []), now

    got = mailed(tmp_path)
    issues: dict[str, list[str]] = {}
    for reader, issue in sorted(got):
        issues.setdefault(reader, []).append(issue)
    listing_days = sorted(listed)
    assert issues["daily"] == listing_days  # each weekday with a listing, once
    # Mondays 3, 10 and 17 August (the week of the 24th has no listing: no issue).
    assert issues["weekly"] == ["2026-08-03", "2026-08-10", "2026-08-17"]
    assert issues["monthly"] == ["2026-08-12"]

    for reader in ("daily", "weekly", "monthly"):
        papers = [pid for (who, _), (_, ids) in got.items() if who == reader for pid in ids]
        assert papers and len(papers) == len(set(papers)), reader  # nothing reached them twice
    day_of = {pid: day for day, ids in listed.items() for pid in ids}
    # The weekly issue of the 17th is the week after the 10th's: 11-14 August, nothing earlier.
    assert {day_of[pid] for pid in got["weekly", "2026-08-17"][1]} <= {
        "2026-08-11",
        "2026-08-12",
        "2026-08-13",
        "2026-08-14",
    }
    # The monthly issue of 12 August holds the days since 12 July: both weeks recorded so far.
    assert {day_of[pid] for pid in got["monthly", "2026-08-12"][1]} >= {"2026-08-04", "2026-08-11"}
    assert got["monthly", "2026-08-12"][0].startswith("This month: ")
    assert runs_on("monthly:31", date(2026, 2, 28))  # a short month's last day stands in for the 31st


def test_a_weekly_readers_preview_is_the_issue_they_will_get(tmp_path, hf, listed):
    from digest.jobs import preview

    config = newsletter(tmp_path, hf.url)
    built = preview.build(config, now=at("2026-08-10T07:30:00"), to="weekly@example.org")
    window = [d.isoformat() for d in window_for("weekly:mon", "2026-08-10").days]
    day_of = {pid: day for day in window for pid in listed.get(day, {})}
    assert built.message.rendered.subject.startswith("This week: ")
    assert "This week: 4-10 August 2026\n" in built.message.rendered.text
    assert "THIS WEEK'S TOP PAPER" in built.message.rendered.text  # not "today's"
    assert len({day_of[p.paper.id] for p in built.message.picks}) >= 3
    daily = preview.build(config, now=at("2026-08-10T07:30:00"), to="daily@example.org")
    assert {p.paper.id for p in daily.message.picks} <= set(listed["2026-08-10"])
