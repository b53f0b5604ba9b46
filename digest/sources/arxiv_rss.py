"""The `arxiv_rss` source: the day's announcements, GET {url}/rss/cat1+cat2 (rss.arxiv.org).

Each item says how it was announced (`arxiv:announce_type`: new, cross, replace,
replace-cross); the config keeps some. The description is "arXiv:ID Announce Type: T
Abstract: ...", and the abstract is what follows "Abstract:".

The feed holds only the latest announcements and takes no date: its channel's pubDate says
which day's they are. Asked for an earlier day (a reader's issue that is caught up late, a
`fetch --date` in the past), it gives no papers and says so, rather than put a later day's
papers in that day's issue; `arxiv_api` can list past days. Asked for a later day (a reader
in Tokyo is a day ahead of New York), the latest announcements are that day's.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..models import Paper, one_line
from . import feed
from .httpclient import Client
from .result import Fetched, normalise

_ANNOUNCE = re.compile(r"Announce Type:\s*([\w-]+)", re.IGNORECASE)
_ABSTRACT = re.compile(r"^.*?\bAbstract:\s*", re.IGNORECASE | re.DOTALL)


def url_for(source: Any) -> str:
    return f"{source.url}/rss/{'+'.join(source.categories)}"


def announce_type(entry: Any, description: str) -> str | None:
    found = entry.get("arxiv_announce_type") or (m.group(1) if (m := _ANNOUNCE.search(description)) else None)
    return found.strip().lower() if found else None


def paper_from_item(entry: Any, position: int, source: str) -> Paper:
    aid = feed.entry_arxiv_id(entry)
    if not aid:
        raise ValueError("item has no arXiv id in its guid or link")
    title = feed.text_of(entry, "title")
    if not title:
        raise ValueError(f"{aid} has no title")
    description = feed.text_of(entry, "summary")
    return Paper(
        id=aid,
        title=one_line(title),
        abstract=_ABSTRACT.sub("", description, count=1).strip(),
        authors=feed.author_names(entry),
        published=feed.iso_time(entry, "published", "updated"),
        url=f"https://arxiv.org/abs/{aid}",
        pdf_url=f"https://arxiv.org/pdf/{aid}",
        categories=[t["term"] for t in entry.get("tags") or [] if t.get("term")],
        position=position,
        sources=[source],
    )


def papers_from(parsed: Any, where: str, source: str, keep: list[str]) -> tuple[list[Paper], list[str]]:
    """The items announced in one of the `keep` ways (an item that does not say is kept)."""
    wanted = [e for e in parsed.entries if announce_type(e, e.get("summary") or "") in (*keep, None)]
    return normalise(wanted, lambda entry, n: paper_from_item(entry, n, source), where, noun="item")


def listing_day(parsed: Any) -> date | None:
    """The day of the announcements in the feed: its channel's pubDate (midnight in New York,
    the same date in UTC), or lastBuildDate."""
    stamp = parsed.feed.get("published_parsed") or parsed.feed.get("updated_parsed")
    return date(*stamp[:3]) if stamp else None


def fetch(source: Any, client: Client, day: date | None) -> Fetched:
    response = client.get(url_for(source), accept=feed.ACCEPT)
    parsed, warnings = feed.parse(response.body, response.final_url, response.content_type, strict=True)
    listed = listing_day(parsed)
    if day is not None and listed is not None and day < listed:
        warnings.append(
            f"{response.final_url}: the arXiv RSS feed holds only its latest announcements (of {listed}), "
            f"not those of {day}: none of them go into the issue of {day}. For past days use kind: arxiv_api"
        )
        return Fetched([], warnings, cached=response.cached)
    papers, skipped = papers_from(parsed, response.final_url, source.label, source.announce_types)
    return Fetched(papers, warnings + skipped, cached=response.cached)
