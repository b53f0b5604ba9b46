"""Each reader's private Atom feed: exactly the issues they were sent, with the same papers as
their emails; valid Atom as a feed reader parses it (feedparser); its address comes from the
preferences page, and a new one makes the old stop working."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import feedparser
import httpx

from digest import config as config_mod
from digest.compose import tokens
from digest.jobs import send

from .helpers_web import SECRET, csrf_form, serving

PAPER_LINK = re.compile(r'href="(https://huggingface\.co/papers/[^"#?]+)"')


def emailed_papers(project, issue: str) -> set[str]:
    raw = (project / "outbox" / issue / "ada@example.org.eml").read_bytes()
    text = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return set(re.findall(r"https://huggingface\.co/papers/\S+", text))


def test_a_readers_feed_holds_their_issues_with_their_emails_papers_and_can_be_renewed(project, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config = config_mod.load(project / "digest.yaml")
    for day in ("2026-11-26", "2026-11-27"):
        report = send.run(config, now=datetime.fromisoformat(f"{day}T09:00:00+00:00"), to="ada@example.org")
        assert report.sent == 1, report.problems
    send.run(config, now=datetime(2026, 11, 27, 9, 0, tzinfo=UTC), to="alan@example.org")  # someone else's

    token = tokens.sign(SECRET, "preferences", "ada@example.org")
    with serving(project) as base, httpx.Client(base_url=base) as client:
        page = client.get(f"/preferences?token={token}")
        url = re.search(r'id="feed" readonly value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        assert url.startswith(f"{base}/feeds/reader.xml?token=")
        answer = client.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(answer.content)
        assert not parsed.bozo and parsed.version == "atom10"
        assert [e.title.rsplit(": ", 1)[0].rsplit(", ", 1)[1] for e in parsed.entries] == [
            "2026-11-27",
            "2026-11-26",
        ]
        for e in parsed.entries:
            issue = e.title.rsplit(": ", 1)[0].rsplit(", ", 1)[1]
            assert set(PAPER_LINK.findall(e.content[0].value)) == emailed_papers(project, issue), issue

        csrf = csrf_form(client, f"/preferences?token={token}")
        renewed = client.post("/preferences/feed", data={"csrf": csrf, "token": token})
        new_url = (
            re.search(r'id="feed" readonly value="([^"]+)"', renewed.text).group(1).replace("&amp;", "&")
        )
        assert new_url != url
        assert client.get(url).status_code == 404  # the old address stops working
        assert feedparser.parse(client.get(new_url).content).entries
        forged = (
            url.split("token=")[0]
            + "token="
            + tokens.sign("another secret", "reader-feed", "ada@example.org x")
        )
        assert client.get(forged).status_code == 404
