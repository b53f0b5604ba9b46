"""The `feed` source: any RSS or Atom feed, fetched by httpx and parsed by feedparser.

`parse` is shared with the arXiv sources. feedparser gets the bytes in a stream, never a
string: given a string it would treat it as a URL or a file name and go and open it.
"""

from __future__ import annotations

import io
import re
import time
from datetime import date
from typing import Any

import feedparser

from ..models import Paper, arxiv_id, one_line, title_id
from ..util.clean import html_to_text, repair_mojibake
from .httpclient import Client
from .result import Fetched, FetchError, normalise

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
# Benign complaints: the feed declared one encoding and used another, or its MIME type is
# not an XML one. feedparser still parsed it properly.
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
# HF renderings of daily papers put labelled fields in the description:
# <p><b>Authors:</b> A, B</p><p><b>Upvotes:</b> 12</p><p><b>Summary:</b> ...</p>
_LABELLED = re.compile(
    r"<(b|strong)>\s*(authors?|upvotes?|summary|abstract)\s*:?\s*</\1>\s*:?\s*(.*?)(?=</p>|<p>|<(?:b|strong)>|$)",
    re.IGNORECASE | re.DOTALL,
)
_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<!doctype html|^\s*<html", re.IGNORECASE | re.DOTALL)


def snippet(body: bytes, n: int = 60) -> str:
    """The start of a body, one line, for error messages."""
    return one_line(body[:n].decode("utf-8", "replace")) + ("..." if len(body) > n else "")


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    return "text/html" in content_type.lower() or bool(_HTML_START.match(body[:512]))


def parse(body: bytes, where: str, content_type: str = "", *, strict: bool = False) -> tuple[Any, list[str]]:
    """feedparser's result and any warnings. A FetchError when it is not a feed at all.

    Hand-made feeds are often a little broken (an undefined `&nbsp;`), and feedparser's
    lenient parser still reads them: keep what it read, with a warning. `strict` (the arXiv
    feeds, machine-written and always well-formed) treats broken XML as a broken response,
    such as one cut short, and fails the source rather than trust half of it."""
    if not body.strip():
        raise FetchError(f"{where}: empty response, expected an RSS or Atom feed")
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    warnings: list[str] = []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and not isinstance(problem, _BENIGN):
        where_in = ""
        if hasattr(problem, "getLineNumber"):
            where_in = f" at line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        message = getattr(problem, "getMessage", lambda: str(problem))()
        if strict or not parsed.entries:
            kind = "an HTML page, not a feed" if looks_like_html(body, content_type) else "malformed XML"
            raise FetchError(f"{where}: {kind}{where_in} ({message}); starts {snippet(body)!r}")
        warnings.append(
            f"{where}: the feed is not well-formed XML{where_in} ({message}); "
            f"kept the {len(parsed.entries)} entries that could be read"
        )
    elif not parsed.get("version") and not parsed.entries:
        kind = "an HTML page" if looks_like_html(body, content_type) else "not an RSS or Atom feed"
        raise FetchError(f"{where}: expected an RSS or Atom feed, got {kind}; starts {snippet(body)!r}")
    return parsed, warnings


def text_of(entry: Any, name: str) -> str:
    """A text field as plain text: HTML-typed values lose their markup, keep their words."""
    value = entry.get(name) or ""
    detail = entry.get(f"{name}_detail") or {}
    if "html" in (detail.get("type") or ""):
        return html_to_text(value)
    return value.strip()


def iso_time(entry: Any, *names: str) -> str | None:
    """The first parsed date among `names`, as ISO 8601 UTC."""
    for name in names:
        parsed = entry.get(f"{name}_parsed")
        if parsed:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
    return None


def author_names(entry: Any) -> list[str]:
    """Authors from <author>/<dc:creator>; RSS often packs them into one "A, B and C" string."""
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = author.get("name") if isinstance(author, dict) else None
        if not name:
            continue
        for part in re.split(r",\s*|\s+and\s+", name):
            part = repair_mojibake(one_line(part))
            if part and part not in names:
                names.append(part)
    return names


def entry_arxiv_id(entry: Any) -> str | None:
    candidates = [
        entry.get("id"),
        entry.get("link"),
        *(link.get("href") for link in entry.get("links") or []),
    ]
    for value in candidates:
        if isinstance(value, str) and (found := arxiv_id(value)):
            return found
    return None


def _labelled(html: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for match in _LABELLED.finditer(html):
        label = match.group(2).lower().rstrip("s")
        fields.setdefault(label, html_to_text(match.group(3)))
    return fields


def paper_from_entry(entry: Any, position: int, source: str) -> Paper:
    """One feed entry as a Paper. Raises ValueError when it has no title."""
    title = text_of(entry, "title")
    if not title:
        raise ValueError("entry has no title")
    raw_html = entry.get("summary") or ""
    if not raw_html and entry.get("content"):
        raw_html = entry["content"][0].get("value") or ""
    labelled = _labelled(raw_html)
    abstract = labelled.get("summary") or labelled.get("abstract") or text_of(entry, "summary")
    aid = entry_arxiv_id(entry)
    authors = author_names(entry)
    if not authors and labelled.get("author"):
        authors = [a.strip() for a in labelled["author"].split(",") if a.strip()]
    upvotes = labelled.get("upvote", "").replace(",", "")
    image = _IMG.search(raw_html)
    return Paper(
        id=aid or title_id(title),
        title=one_line(title),
        abstract=abstract,
        authors=authors,
        published=iso_time(entry, "published", "updated"),
        url=entry.get("link") or (f"https://arxiv.org/abs/{aid}" if aid else None),
        pdf_url=f"https://arxiv.org/pdf/{aid}" if aid else None,
        thumbnail=image.group(1) if image else None,
        categories=[t["term"] for t in entry.get("tags") or [] if t.get("term")],
        upvotes=int(upvotes) if upvotes.isdigit() else None,
        position=position,
        sources=[source],
    )


def papers_from(parsed: Any, where: str, source: str) -> tuple[list[Paper], list[str]]:
    return normalise(parsed.entries, lambda entry, n: paper_from_entry(entry, n, source), where)


def fetch(source: Any, client: Client, day: date | None) -> Fetched:
    response = client.get(source.url, accept=ACCEPT)
    parsed, warnings = parse(response.body, response.final_url, response.content_type)
    papers, skipped = papers_from(parsed, response.final_url, source.label)
    return Fetched(papers, warnings + skipped, cached=response.cached)
