"""Signals over time: each paper's upvotes, comments and stars kept a snapshot a day, and
ranked by their growth as well as their level, with `preview --explain` saying which."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from digest import config as config_mod
from digest.issue.signals import growth_of
from digest.jobs import preview, send
from digest.models import Growth, Paper
from digest.store import stores

NOW = datetime(2026, 8, 11, 7, 0, tzinfo=UTC)


def paper(pid: str, title: str, upvotes: int, position: int) -> Paper:
    return Paper(
        id=pid,
        title=title,
        abstract=f"{title}: what it does and how well.",
        upvotes=upvotes,
        position=position,
        submitted="2026-08-09T00:00:00Z",
        url=f"https://huggingface.co/papers/{pid}",
    )


def test_a_paper_gaining_upvotes_fastest_outranks_one_with_more_that_stopped_and_explain_says_why(project):
    config = config_mod.load(project / "digest.yaml")
    stalled = paper("2608.00001", "Stalled Giant: a model everyone upvoted on day one", 60, 1)
    rising = paper("2608.00002", "Rising Star: a model people found a day late", 40, 2)
    quiet = paper("2608.00003", "Quiet Work: a careful study", 5, 3)
    with stores(config) as opened:  # yesterday's snapshot, as yesterday's send run kept it
        opened.listings.record_signals(
            "2026-08-10",
            [(stalled.id, 60, None, None), (rising.id, 2, None, None), (quiet.id, 5, None, None)],
        )

    result = preview.build_from(config, [stalled, rising, quiet], now=NOW, to="alan@example.org")
    order = [pick.paper.id for pick in sorted(result.message.picks, key=lambda p: -p.score)]
    assert order.index(rising.id) < order.index(stalled.id)

    explained = preview.explain(result)
    rising_line = next(line for line in explained.splitlines() if "40 upvotes" in line)
    assert "+38 upvotes since yesterday" in rising_line
    stalled_line = next(line for line in explained.splitlines() if "60 upvotes" in line)
    assert "no new upvotes, comments or stars since yesterday" in stalled_line


def test_without_an_earlier_snapshot_the_levels_alone_rank(project):
    config = config_mod.load(project / "digest.yaml")
    stalled = paper("2608.00001", "Stalled Giant: a model everyone upvoted on day one", 60, 1)
    rising = paper("2608.00002", "Rising Star: a model people found a day late", 40, 2)
    result = preview.build_from(config, [stalled, rising], now=NOW, to="alan@example.org")
    order = [pick.paper.id for pick in sorted(result.message.picks, key=lambda p: -p.score)]
    assert order == [stalled.id, rising.id]
    assert "since yesterday" not in preview.explain(result)


def test_growth_is_per_day_since_the_snapshot_and_a_count_that_fell_gains_nothing():
    papers = [paper("a", "A", 50, 1), paper("b", "B", 3, 2)]
    earlier = {"a": ("2026-08-08", 20, None, 1), "b": ("2026-08-10", 9, 2, None)}
    grown = growth_of(papers, earlier, date(2026, 8, 11))
    assert grown["a"] == Growth("2026-08-08", 3, upvotes=30)
    assert grown["a"].per_day("upvotes") == 10
    assert grown["a"].words() == "+30 upvotes in 3 days"
    assert grown["b"] == Growth("2026-08-10", 1)


def test_a_rising_section_brings_an_earlier_days_paper_climbing_fastest_that_the_reader_lacks(
    tmp_path, shared_fixtures
):
    """Wednesday 12 August's listing, then Thursday's; by Thursday one of Wednesday's papers
    the reader did not get has gained 50 upvotes: it comes back under "Rising", once."""
    from .helpers_http import ReplayServer, hf_daily_papers
    from .test_reader_rhythm import NEWSLETTER, PAPER_LINK, mailed

    recorded = shared_fixtures / "hf_daily_papers"
    wednesday = json.loads((recorded / "2026-08-12.json").read_bytes())
    quiet = wednesday[-1]["paper"]  # the day's last: not among the reader's 5
    climbed = [dict(e, paper=dict(e["paper"])) for e in wednesday]
    climbed[-1]["paper"]["upvotes"] = quiet["upvotes"] + 50
    (tmp_path / "climbed.json").write_text(json.dumps(climbed))
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-12": recorded / "2026-08-12.json"})
        (tmp_path / "digest.yaml").write_text(
            NEWSLETTER.format(url=server.url).replace("  address:", "  rising: 2\n  address:")
        )
        (tmp_path / "subscribers.yaml").write_text(
            "subscribers:\n  - email: ada@example.org\n    max_papers: 5\n"
        )
        config = config_mod.load(tmp_path / "digest.yaml")
        assert send.run(config, now=datetime(2026, 8, 12, 9, 0, tzinfo=UTC), log=lambda _: None).sent == 1
        server.routes["/api/daily_papers"] = hf_daily_papers(
            {"2026-08-12": tmp_path / "climbed.json", "2026-08-13": recorded / "2026-08-13.json"}
        )
        assert send.run(config, now=datetime(2026, 8, 13, 9, 0, tzinfo=UTC), log=lambda _: None).sent == 1

    got = mailed(tmp_path)
    assert quiet["id"] not in got["ada", "2026-08-12"][1]
    thursday = (tmp_path / "outbox" / "2026-08-13" / "ada@example.org.eml").read_bytes().decode()
    text = message_from_bytes(thursday.encode(), policy=policy.default).get_body(("plain",)).get_content()
    rising = text.split("RISING (1)", 1)[1]
    assert PAPER_LINK.findall(rising)[:1] == [quiet["id"]]
    assert "rising: +50 upvotes since yesterday" in " ".join(rising.split())
    assert quiet["id"] in got["ada", "2026-08-13"][1]  # recorded as sent: it never comes again
