"""One issue per reader per local day, each with its own day's papers, on real data.

The shipped example list (London 07:00, New York 08:30 on weekdays, Tokyo 06:45; hand-written,
no `created:`) on a fresh state, against Hugging Face's daily listing replayed on loopback from
the recorded days 10-14 August 2026 (Monday to Friday). `send --due` runs every half hour for
two days, as from cron: nobody gets a past issue on the first run, each reader gets one issue
per local day at their send time, each issue holds only papers of its own day, and no archive
page is ever rewritten with another day's papers.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.issue import rank
from digest.jobs import send
from digest.jobs.schedule import Daemon
from digest.models import Subscriber
from digest.readers.due import current
from digest.sources import file as file_source
from digest.store import stores

from .helpers_http import ReplayServer, hf_daily_papers, with_etags

DAYS = ["2026-08-10", "2026-08-11", "2026-08-12", "2026-08-13", "2026-08-14"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def hf(shared_fixtures):
    with ReplayServer() as server:
        recorded = {day: shared_fixtures / "hf_daily_papers" / f"{day}.json" for day in DAYS}
        server.routes["/api/daily_papers"] = with_etags(hf_daily_papers(recorded))
        yield server


@pytest.fixture
def papers_of_day(shared_fixtures) -> dict[str, set[str]]:
    return {
        day: {p.id for p in file_source.read(shared_fixtures / "hf_daily_papers" / f"{day}.json")}
        for day in DAYS
    }


def hf_project(project: Path, url: str) -> config_mod.Config:
    """The example project with Hugging Face's daily listing as its only source."""
    text = (project / "digest.yaml").read_text()
    text = text.replace(
        "  - kind: file\n    path: samples/papers.jsonl", f"  - kind: hf_daily\n    url: {url}"
    )
    (project / "digest.yaml").write_text(text)
    return config_mod.load(project / "digest.yaml")


def ledger_rows(project: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(project / ".digest" / "state.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def who(paths: list[str]) -> list[tuple[str, str]]:
    return [(Path(p).stem.split("@")[0], Path(p).parent.name) for p in paths]


def test_half_hourly_runs_over_two_days_mail_each_reader_once_a_day_with_that_days_papers(
    project, hf, papers_of_day
):
    config = hf_project(project, hf.url)
    start = utc("2026-08-13T05:00:00Z")  # the issue's first run: 06:00 in London, nobody's slot
    first = send.run(config, now=start, due=True, log=lambda _: None)
    assert (first.sent, first.not_due, first.problems) == (0, 3, [])

    mailed: dict[str, list[tuple[datetime, str]]] = {}
    archived: dict[str, bytes] = {}
    for step in range(1, 2 * 43 + 1):  # every half hour until 15 Aug 00:00Z
        now = start + timedelta(minutes=30 * step)
        report = send.run(config, now=now, due=True, log=lambda _: None)
        assert (report.failed, report.problems) == (0, []), now
        for reader, issue in who(report.delivered_to):
            mailed.setdefault(reader, []).append((now, issue))
        for page in sorted((project / "archive").glob("2026-*.json")):
            if page.stem in archived:  # written once, never again, by any later run
                assert page.read_bytes() == archived[page.stem], (now, page.name)
            archived[page.stem] = page.read_bytes()

    # Tokyo's 13 Aug slot (21:45Z on the 12th) passed before the first run saw the list: its
    # first issue is the 14th. Saturday 15 Aug has no listing on Hugging Face: no issue.
    assert {r: [issue for _, issue in sent] for r, sent in mailed.items()} == {
        "ada": ["2026-08-13", "2026-08-14"],
        "grace": ["2026-08-13", "2026-08-14"],
        "alan": ["2026-08-14"],
    }
    assert mailed["ada"][0][0] == utc("2026-08-13T06:00:00Z")  # 07:00 BST, the first slot after the first run
    assert mailed["grace"][0][0] == utc("2026-08-13T12:30:00Z")  # 08:30 EDT
    assert mailed["alan"][0][0] == utc("2026-08-13T22:00:00Z")  # the first run after 06:45 JST on the 14th
    for sent in mailed.values():
        times = [at for at, _ in sent]
        assert all(
            later - earlier >= timedelta(hours=12) for earlier, later in zip(times, times[1:], strict=False)
        )

    # Every paper a reader got came from the listing of their issue's day.
    rows = ledger_rows(project, "SELECT email, paper_id, issue FROM sent_papers")
    assert len(rows) > 5
    assert [(email, pid, issue) for email, pid, issue in rows if pid not in papers_of_day[issue]] == []
    # Each archive page holds its own day's papers, and only the days an issue went out; the
    # Saturday with no listing is in the index with the line said about it, and no page.
    assert sorted(archived) == ["2026-08-13", "2026-08-14", "2026-08-15"]
    saturday = json.loads(archived.pop("2026-08-15"))
    assert (saturday["url"], saturday["summary"]) == (
        "",
        "No issue on Saturday 15 August: no papers are listed at weekends.",
    )
    assert sorted(p.stem for p in (project / "archive").glob("2026-*.html")) == ["2026-08-13", "2026-08-14"]
    for day, raw in archived.items():
        urls = [p["url"] for t in json.loads(raw)["themes"] for p in t["papers"]]
        assert urls and {u.rsplit("/", 1)[1] for u in urls} <= papers_of_day[day], day
    # Each day's listing was asked for with its own date, never the newsletter's day for all.
    asked = {r.query.get("date") for r in hf.hits("/api/daily_papers")}
    assert asked == {"2026-08-13", "2026-08-14", "2026-08-15"}


def test_a_first_run_mails_nobody_and_the_next_slot_mails_each_once(project, hf, cli):
    hf_project(project, hf.url)
    first = cli("send", "--due", "--now", "2026-08-13T05:00:00Z", cwd=project)
    assert first.returncode == 0 and "sent 0," in first.stdout and "not due yet 3" in first.stdout
    assert not (project / "outbox").exists()
    ada = cli("send", "--due", "--now", "2026-08-13T06:50:00Z", cwd=project)
    assert ada.returncode == 0 and "issue 2026-08-13: sent 1," in ada.stdout
    assert [p.name for p in (project / "outbox").rglob("*.eml")] == ["ada@example.org.eml"]


def test_the_schedulers_start_up_run_on_a_fresh_state_mails_nobody(project, hf):
    config = hf_project(project, hf.url)
    with stores(config) as opened:
        daemon = Daemon(config, opened.subscribers, start=utc("2026-08-13T05:00:00Z"))
        daemon.run_slot(daemon.now())  # the catch-up run `digest schedule` makes when it starts
    assert not (project / "outbox").exists()
    assert ledger_rows(project, "SELECT COUNT(*) FROM readers_seen") == [(3,)]


def test_a_reader_mailed_before_catches_up_only_within_the_window(project, hf):
    config = hf_project(project, hf.url)
    send.run(config, now=utc("2026-08-11T05:00:00Z"), due=True, log=lambda _: None)  # sees the list
    monday = send.run(config, now=utc("2026-08-11T06:00:00Z"), due=True, to="ada@example.org")
    assert who(monday.delivered_to) == [("ada", "2026-08-11")]
    # The server was down from then until 13 Aug 05:00Z: the 12th's 07:00 is 23 hours late, and
    # the 13th's an hour away. Nothing now; the 13th's issue at its time.
    late = send.run(config, now=utc("2026-08-13T05:00:00Z"), due=True, to="ada@example.org")
    assert (late.sent, late.not_due) == (0, 1)
    on_time = send.run(config, now=utc("2026-08-13T06:00:00Z"), due=True, to="ada@example.org")
    assert who(on_time.delivered_to) == [("ada", "2026-08-13")]
    # Down again until 17:30Z on the 14th: 11.5 hours late, within the window, caught up.
    caught_up = send.run(config, now=utc("2026-08-14T17:30:00Z"), due=True, to="ada@example.org")
    assert who(caught_up.delivered_to) == [("ada", "2026-08-14")]


def test_the_due_rules_for_readers_never_mailed_and_mailed_before():
    ada = Subscriber(email="ada@example.org", timezone="Europe/London", send_at="07:00")
    slot = utc("2026-08-13T06:00:00Z")
    never_seen = current(ada, slot + timedelta(minutes=5))
    seen_before = current(ada, slot + timedelta(minutes=5), seen=slot - timedelta(hours=1))
    seen_after = current(ada, slot + timedelta(minutes=5), seen=slot + timedelta(minutes=1))
    assert (never_seen, seen_after) == (None, None) and seen_before.issue == "2026-08-13"
    assert current(ada, slot + timedelta(hours=11, minutes=59), mailed_before=True).issue == "2026-08-13"
    assert current(ada, slot + timedelta(hours=12, minutes=1), mailed_before=True) is None
    # `created:` later than the slot still holds for a reader mailed before (they came back)
    back = ada.model_copy(update={"confirmed": slot + timedelta(hours=1)})
    assert current(back, slot + timedelta(hours=2), mailed_before=True) is None


# --- nothing new: recorded, not ranked again until something changes ------------------------


def test_a_reader_with_nothing_new_is_not_ranked_again_until_the_listing_or_the_entry_changes(
    project, shared_fixtures, monkeypatch
):
    recorded = shared_fixtures / "hf_daily_papers"
    (project / "subscribers.yaml").write_text(
        "subscribers:\n  - email: ada@example.org\n    timezone: Europe/London\n    max_papers: 100\n"
    )
    ranked: list[str] = []  # whom rank.select ranked (the archive page ranks for "archive@example.org")
    select = rank.select
    monkeypatch.setattr(
        rank,
        "select",
        lambda prepared, reader, *a: ranked.append(reader.email) or select(prepared, reader, *a),
    )

    def run(at: str) -> send.SendReport:
        ranked.clear()
        return send.run(config, now=utc(at), due=True, log=lambda _: None)

    with ReplayServer() as hf:
        # The 14th's listing repeats the 13th's papers (submitted to the 14th this time, or the
        # listing would leave them out as the 13th's cohort): Ada, who got them all, has nothing new.
        entries = json.loads((recorded / "2026-08-13.json").read_bytes())
        for entry in entries:
            entry["paper"]["submittedOnDailyAt"] = "2026-08-14T00:00:00.000Z"
        (project / "repeated.json").write_text(json.dumps(entries))
        same = {"2026-08-13": recorded / "2026-08-13.json", "2026-08-14": project / "repeated.json"}
        hf.routes["/api/daily_papers"] = with_etags(hf_daily_papers(same))
        # Every paper of the day fits in her digest (no score floor, no cap per theme).
        text = (project / "digest.yaml").read_text().replace("min_score: 0.1", "min_score: 0")
        (project / "digest.yaml").write_text(text.replace("max_per_theme: 6", "max_per_theme: 0"))
        config = hf_project(project, hf.url)
        run("2026-08-13T05:00:00Z")
        assert run("2026-08-13T06:00:00Z").sent == 1

        empty = run("2026-08-14T06:00:00Z")
        assert (empty.sent, empty.empty, "ada@example.org" in ranked) == (0, 1, True)
        assert ledger_rows(project, "SELECT issue, email FROM nothing_new") == [
            ("2026-08-14", "ada@example.org")
        ]
        asked = len(hf.hits("/api/daily_papers"))
        for minute in range(5, 30, 5):  # cron every five minutes
            again = run(f"2026-08-14T06:{minute:02d}:00Z")
            assert (again.sent, again.empty, again.problems, ranked) == (0, 1, [], []), minute
        later = hf.hits("/api/daily_papers")[asked:]
        assert len(later) == 5 and all(r.headers.get("if-none-match") for r in later)  # each a 304

        # Her entry changes: ranked again (still nothing new in these papers), then left alone.
        (project / "subscribers.yaml").write_text(
            (project / "subscribers.yaml").read_text() + "    keywords: [agents]\n"
        )
        assert (run("2026-08-14T06:30:00Z").empty, "ada@example.org" in ranked) == (1, True)
        assert (run("2026-08-14T06:35:00Z").empty, ranked) == (1, [])

        # The source says something changed (a new body for the 14th): ranked, and mailed.
        hf.routes["/api/daily_papers"] = with_etags(
            hf_daily_papers({"2026-08-14": recorded / "2026-08-14.json"})
        )
        fresh = run("2026-08-14T06:40:00Z")
        assert (fresh.sent, "ada@example.org" in ranked) == (1, True)
