"""Each reader's private Atom feed: exactly the issues they were sent, with the papers each
carried (the ledger's record, so the feed and the emails always agree).

The URL carries a token signed for the reader's address and their feed key (the store keeps
the key): without DIGEST_SECRET it cannot be made, and a new key, made from the preferences
page, makes the old URL stop working. Reading the feed changes nothing.
"""

from __future__ import annotations

from urllib.parse import quote

from ..compose import tokens
from ..compose.build import issue_url
from ..jobs.archive import Entry, atom
from ..store import ReaderFeeds, SentIssue
from ..util.plural import counted

PURPOSE = "reader-feed"
PATH = "/feeds/reader.xml"
ENTRIES = 30


def feed_url(base_url: str, secret: str, email: str, key: str) -> str:
    token = tokens.sign(secret, PURPOSE, f"{email.lower()} {key}")
    return f"{base_url}{PATH}?token={quote(token)}"


def reader_of(store: ReaderFeeds, secret: str, token: str) -> str | None:
    """The address a feed token is for, if it is genuine and its key still the reader's."""
    signed = tokens.verify(secret, PURPOSE, token)
    if signed is None or " " not in signed:
        return None
    email, key = signed.rsplit(" ", 1)
    return email if store.current_feed_key(email) == key else None


def entry(issue: SentIssue, base_url: str, name: str) -> Entry:
    papers = [
        {"title": title, "url": url or "", "tldr": _first_sentence(abstract)}
        for _, title, url, abstract in issue.papers
    ]
    n = len(papers)
    return Entry(
        id=issue.issue,
        date=issue.issue,
        date_text=issue.issue,
        title=f"{name}, {issue.issue}: {counted(n, 'paper')}",
        summary="; ".join(p["title"] for p in papers[:3]),
        url=issue_url(base_url, issue.issue),
        updated=issue.sent_at or f"{issue.issue}T00:00:00+00:00",
        n_papers=n,
        themes=[{"label": "Your papers", "papers": papers}],
    )


def feed(store: ReaderFeeds, email: str, self_url: str, *, base_url: str, name: str) -> bytes:
    entries = [entry(issue, base_url, name) for issue in store.issues_sent(email, ENTRIES)]
    return atom(entries, name, base_url, self_url=self_url, subtitle=f"The issues of {name} sent to you.")


def _first_sentence(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    head = text.split(". ", 1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"
