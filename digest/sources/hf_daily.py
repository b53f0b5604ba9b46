"""The `hf_daily` source: Hugging Face Daily Papers, GET {url}/api/daily_papers.

A day (`date=YYYY-MM-DD`), an ISO week (`week=YYYY-Www`) or a month (`month=YYYY-MM`), in
pages of `limit` (`p` counts from 0) until a short page or `max_pages`. Each entry is
normalised by `hf.paper_from_hf`, the same code that reads saved responses in `file`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..models import Paper, arxiv_id
from .feed import looks_like_html, snippet
from .hf import cohort_day, paper_from_hf, repos_from, withdrawn
from .httpclient import Client
from .jsonlines import TooDeep, loads
from .result import Fetched, FetchError, normalise

PATH = "/api/daily_papers"


def params_for(source: Any, day: date | None, page: int) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    if day is not None:
        if source.period == "week":
            year, week, _ = day.isocalendar()
            params["week"] = f"{year}-W{week:02d}"
        elif source.period == "month":
            params["month"] = f"{day:%Y-%m}"
        else:
            params["date"] = day.isoformat()
    if source.sort:
        params["sort"] = source.sort
    params["limit"] = source.limit
    params["p"] = page
    return params


def entries(body: bytes, where: str, content_type: str = "") -> list[Any]:
    """The JSON array of a daily_papers response; a FetchError says what came instead."""
    try:
        data = loads(body)
    except TooDeep as exc:
        raise FetchError(f"{where}: {exc}; expected a JSON array of papers") from None
    except (ValueError, UnicodeDecodeError):
        got = "an HTML page" if looks_like_html(body, content_type) else "something that is not JSON"
        if not body.strip():
            got = "an empty body"
        raise FetchError(
            f"{where}: expected a JSON array of papers, got {got}; starts {snippet(body)!r}"
        ) from None
    if isinstance(data, dict) and data.get("error"):
        raise FetchError(
            f"{where}: the API answered with an error: {snippet(str(data['error']).encode(), 200)}"
        )
    if not isinstance(data, list):
        raise FetchError(f"{where}: expected a JSON array of papers, got a JSON {type(data).__name__}")
    return data


def fetch(source: Any, client: Client, day: date | None) -> Fetched:
    papers: list[Paper] = []
    warnings: list[str] = []
    seen: set[str] = set()
    cached = True
    left_out = 0  # withdrawn, or of another day's cohort
    url = source.url + PATH
    for page in range(source.max_pages):
        response = client.get(url, params_for(source, day, page), accept="application/json")
        cached = cached and response.cached
        data = entries(response.body, response.final_url, response.content_type)
        kept = [e for e in data if not withdrawn(e) and in_cohort(e, source, day)]
        left_out += len(data) - len(kept)
        found, skipped = normalise(
            kept,
            lambda entry, n: paper_from_hf(entry, n, source.label),
            response.final_url,
            first=page * source.limit + 1,
        )
        warnings += skipped
        for paper in found:  # the listing can shift between pages: keep each paper once
            if paper.id not in seen:
                seen.add(paper.id)
                paper.position = len(papers) + 1
                papers.append(paper)
        if len(data) < source.limit:
            break
    else:
        warnings.append(
            f"{url}: stopped after {source.max_pages} full pages (max_pages); the listing may go on"
        )
    if left_out:
        warnings.append(f"{url}: left out {left_out} withdrawn papers or papers submitted on another day")
    warnings += look_up_repos(source, client, papers)
    return Fetched(papers, warnings, cached=cached)


def look_up_repos(source: Any, client: Client, papers: list[Paper]) -> list[str]:
    """The linked models, datasets and Spaces of the `source.repos` most upvoted papers, set on
    each (answers are cached like any fetch: an unchanged list costs a 304). Returns warnings:
    a paper whose look-up failed is sent without them."""
    warnings: list[str] = []
    wanted = sorted((p for p in papers if arxiv_id(p.id)), key=lambda p: -(p.upvotes or 0))[: source.repos]
    for paper in wanted:
        url = f"{source.url}/api/arxiv/{paper.id}/repos"
        try:
            response = client.get(url, accept="application/json")
            paper.repos = repos_from(loads(response.body))
        except FetchError as exc:
            warnings.append(f"linked repositories of {paper.id} not looked up: {exc}")
        except (TooDeep, ValueError, UnicodeDecodeError):
            warnings.append(f"linked repositories of {paper.id} not looked up: {url} did not answer JSON")
    return warnings


def in_cohort(entry: Any, source: Any, day: date | None) -> bool:
    """Whether a day's listing entry is of that day's cohort (hf.cohort_day); a week's or a
    month's listing, or an entry that does not say, keeps it."""
    joined = cohort_day(entry)
    return day is None or source.period != "day" or joined is None or joined == day.isoformat()
