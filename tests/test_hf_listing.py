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
from digest import send
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
