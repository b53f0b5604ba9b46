"""What the Hugging Face listing says beyond each paper's text: `withdrawnAt` keeps a paper out
of every issue, `submittedOnDailyAt` says which day's cohort it belongs to. On a recorded day
(12 August 2026) replayed on loopback, with its top paper withdrawn and another a backfill
listed under the day but submitted months before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

from digest import config as config_mod
from digest.jobs import send
from digest.models import Subscriber

from .helpers_digest import builder, hf_papers
from .helpers_http import ReplayServer, hf_daily_papers
from .test_reader_rhythm import NEWSLETTER, PAPER_LINK

DAY = "2026-08-12"


def test_a_withdrawn_paper_is_never_sent_and_a_backfill_is_not_in_the_days_issue(tmp_path, shared_fixtures):
    entries = json.loads((shared_fixtures / "hf_daily_papers" / f"{DAY}.json").read_bytes())
    top, backfill = entries[0]["paper"], entries[1]["paper"]
    top["withdrawnAt"] = "2026-08-12T10:00:00.000Z"
    backfill["submittedOnDailyAt"] = "2026-06-01T00:00:00.000Z"
    listing = tmp_path / "listing.json"
    listing.write_text(json.dumps(entries))

    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = hf_daily_papers({DAY: listing})
        (tmp_path / "digest.yaml").write_text(NEWSLETTER.format(url=server.url))
        (tmp_path / "subscribers.yaml").write_text(
            "subscribers:\n  - email: ada@example.org\n    max_papers: 30\n"
        )
        config = config_mod.load(tmp_path / "digest.yaml")
        notes: list[str] = []
        report = send.run(config, now=datetime(2026, 8, 12, 8, 0, tzinfo=UTC), log=notes.append)
    assert (report.sent, report.problems) == (1, [])

    raw = (tmp_path / "outbox" / DAY / "ada@example.org.eml").read_bytes()
    text = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sent = set(PAPER_LINK.findall(text))
    others = {e["paper"]["id"] for e in entries[2:]}
    assert top["id"] not in sent and backfill["id"] not in sent
    assert sent <= others and len(sent) >= 15  # the rest of the day, as before
    assert any("left out 2 withdrawn papers or papers submitted on another day" in n for n in notes)


def test_a_reader_following_a_lab_gets_its_papers_pinned_first_under_their_display_name(shared_fixtures):
    papers = hf_papers(shared_fixtures, "2026-08-13")
    labs = [p for p in papers if p.organization == "CASIA-IVA-Lab"]
    assert len(labs) == 2
    reader = Subscriber.model_validate({"email": "ada@example.org", "follow": ["casia-iva-lab"]})
    built = builder(papers, now=datetime(2026, 8, 13, 8, 0, tzinfo=UTC))
    text = built.message(reader, built.picks(reader)).rendered.text
    headings = [line for line in text.splitlines() if re.fullmatch(r"[A-Z][A-Z ,&'-]+ \(\d+\)", line)]
    # The reader's best pick leads the email (the lab's first paper); the lab's other paper is
    # pinned above every theme, though it has 1 upvote and the day's top paper 98.
    assert headings[0] == "FROM THE LABS YOU FOLLOW (1)"
    lead, rest = text.split(headings[0], 1)
    pinned = rest.split(headings[1], 1)[0]
    assert sorted(paper.url in lead for paper in labs) == [False, True]
    assert sorted(paper.url in pinned for paper in labs) == [False, True]
    assert "- CASIA-IVA-Lab" in pinned  # the organisation's display name, as the listing gives it

    nobody = Subscriber(email="alan@example.org")
    assert "FROM THE LABS YOU FOLLOW" not in built.message(nobody, built.picks(nobody)).rendered.text


def test_linked_models_datasets_and_spaces_are_looked_up_for_the_top_papers_and_a_failure_is_a_warning():
    from datetime import date

    from digest import sources
    from digest.compose.render import card
    from digest.config import Fetch, HFDailySource

    from .helpers_http import Reply

    listing = [
        {"paper": {"id": f"2608.1000{i}", "title": f"Paper {i}", "summary": "S.", "upvotes": n,
                   "submittedOnDailyAt": "2026-08-12T00:00:00.000Z"}}
        for i, n in enumerate((5, 90, 40))
    ]  # fmt: skip
    repos = {
        "models": [{"id": "acme/tiny-model", "likes": 3}, {"id": "acme/big-model"}],
        "datasets": [{"id": "acme/the-data"}],
        "spaces": [{"id": "acme/demo"}, "not a repo", {"id": 7}],
        "papers": [{"id": "ignored/x"}],
    }
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = lambda seen: Reply(json.dumps(listing).encode())
        server.routes["/api/arxiv/2608.10001/repos"] = Reply(json.dumps(repos).encode())
        server.routes["/api/arxiv/2608.10002/repos"] = Reply(b"oops", 500)
        source = HFDailySource(kind="hf_daily", url=server.url, repos=2)  # the two most upvoted
        collected = sources.collect([source], day=date(2026, 8, 12), options=Fetch(retries=0, timeout=2))
        asked = sorted({r.path for r in server.requests if r.path.startswith("/api/arxiv/")})
    papers = {p.id: p for p in collected.papers}
    assert asked == ["/api/arxiv/2608.10001/repos", "/api/arxiv/2608.10002/repos"]  # not the third
    assert papers["2608.10001"].repos == [
        "model:acme/tiny-model",
        "model:acme/big-model",
        "dataset:acme/the-data",
        "space:acme/demo",
    ]
    assert papers["2608.10002"].repos == [] and papers["2608.10000"].repos == []
    (report,) = collected.reports
    assert report.ok and any("linked repositories of 2608.10002 not looked up" in w for w in report.warnings)
    links = card(papers["2608.10001"]).links
    assert ("Model: acme/tiny-model", "https://huggingface.co/acme/tiny-model") in links
    assert ("Dataset: acme/the-data", "https://huggingface.co/datasets/acme/the-data") in links
    assert ("Space: acme/demo", "https://huggingface.co/spaces/acme/demo") in links
