"""The `arxiv_api` source: a search, GET {url}/api/query?search_query=... (Atom).

Both recorded generations of the format read the same way (2016: `http://arxiv.org/abs/...`
ids, doi links; 2026: https links, `arxiv:primary_category` without a scheme). The API
reports a bad query as a feed with one entry whose id is `.../api/errors#...`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..models import Paper, one_line
from . import feed
from .httpclient import Client
from .result import Fetched, FetchError, normalise

PATH = "/api/query"
_CODE = re.compile(r"https?://(?:www\.)?github\.com/[\w.-]+/[\w.-]+", re.IGNORECASE)


def params_for(source: Any) -> dict[str, str | int]:
    return {
        "search_query": source.query,
        "start": 0,
        "max_results": source.max_results,
        "sortBy": source.sort_by,
        "sortOrder": source.sort_order,
    }


def code_url(*texts: str) -> str | None:
    """A GitHub repository named in the comment or abstract ("Code: https://github.com/a/b")."""
    for text in texts:
        if match := _CODE.search(text or ""):
            return match.group(0).rstrip(".")
    return None


def paper_from_entry(entry: Any, position: int, source: str) -> Paper:
    aid = feed.entry_arxiv_id(entry)
    if not aid:
        raise ValueError(f"entry {entry.get('id')!r} has no arXiv id")
    title = feed.text_of(entry, "title")
    if not title:
        raise ValueError(f"{aid} has no title")
    abstract = feed.text_of(entry, "summary")
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    categories = [primary] if primary else []
    categories += [
        t["term"] for t in entry.get("tags") or [] if t.get("term") and t["term"] not in categories
    ]
    comment = entry.get("arxiv_comment") or ""
    return Paper(
        id=aid,
        title=one_line(title),
        abstract=abstract,
        authors=feed.author_names(entry),
        published=feed.iso_time(entry, "published", "updated"),
        url=f"https://arxiv.org/abs/{aid}",
        pdf_url=f"https://arxiv.org/pdf/{aid}",
        code_url=code_url(comment, abstract),
        categories=categories,
        position=position,
        sources=[source],
    )


def papers_from(parsed: Any, where: str, source: str) -> tuple[list[Paper], list[str]]:
    for entry in parsed.entries:
        if "/api/errors" in (entry.get("id") or ""):
            raise FetchError(
                f"{where}: the arXiv API refused the query: {one_line(entry.get('summary') or '')}"
            )
    return normalise(parsed.entries, lambda entry, n: paper_from_entry(entry, n, source), where)


def fetch(source: Any, client: Client, day: date | None) -> Fetched:
    response = client.get(source.url + PATH, params_for(source), accept="application/atom+xml")
    parsed, warnings = feed.parse(response.body, response.final_url, response.content_type, strict=True)
    papers, skipped = papers_from(parsed, response.final_url, source.label)
    return Fetched(papers, warnings + skipped, cached=response.cached)


ID_BATCH = 100  # ids per request: the API answers up to this many in one response promptly


def lookup(
    ids: list[str], client: Client, url: str = "https://export.arxiv.org"
) -> dict[str, tuple[str, str]]:
    """Title and abstract of each arXiv paper by id (GET {url}/api/query?id_list=...), for a
    reader's library; ids the API does not know are missing from the answer. A FetchError
    says why there is no answer at all."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start : start + ID_BATCH]
        params: dict[str, str | int] = {"id_list": ",".join(batch), "start": 0, "max_results": len(batch)}
        response = client.get(url.rstrip("/") + PATH, params, accept="application/atom+xml")
        parsed, _ = feed.parse(response.body, response.final_url, response.content_type, strict=True)
        papers, _ = papers_from(parsed, response.final_url, "library")
        for paper in papers:
            found[paper.id] = (paper.title, paper.abstract)
    return found
