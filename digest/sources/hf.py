"""The Hugging Face `/api/daily_papers` shape, normalised to Paper.

The shape has moved over the years (2024: `mediaUrl`; later `thumbnail` and `mediaUrls`;
`githubRepo`/`githubStars` under `paper`; `ai_summary` and `ai_keywords` from 2025), so every
field is read defensively from both the entry and its `paper`, and a wrong type reads as absent.
"""

from __future__ import annotations

from typing import Any

from ..models import Paper, arxiv_id, json_object, one_line

HF_PAPER_PAGE = "https://huggingface.co/papers/{id}"
ARXIV_PDF = "https://arxiv.org/pdf/{id}"


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [])), None)


def _org(value: Any) -> str | None:
    if isinstance(value, dict):
        return _str(value.get("fullname")) or _str(value.get("name"))
    return _str(value)


_IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def _image(value: Any) -> str | None:
    """A URL that points at a still image (mediaUrls also holds .mp4 videos)."""
    url = _str(value)
    return url if url and url.lower().split("?")[0].endswith(_IMAGE) else None


def _author(value: Any) -> str | None:
    # `hidden` is about how the HF page shows an author, not about authorship: keep them all.
    if not isinstance(value, dict):
        return None
    user = json_object(value.get("user"))
    name = _str(value.get("name")) or _str(user.get("fullname"))
    return one_line(name) if name else None


_REPO_KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}


def repos_from(data: Any) -> list[str]:
    """`/api/arxiv/{id}/repos` as "model:org/name", "dataset:...", "space:..." (the Hub's
    order, most liked first as it gives them); anything else in the answer is ignored."""
    found: list[str] = []
    for key, kind in _REPO_KINDS.items():
        for item in _list(json_object(data).get(key)):
            name = _str(item.get("id")) if isinstance(item, dict) else _str(item)
            if name and "/" in name:
                found.append(f"{kind}:{name}")
    return found


def withdrawn(entry: Any) -> bool:
    """A paper its authors withdrew (`withdrawnAt` set): never sent, whatever its upvotes."""
    if not isinstance(entry, dict):
        return False
    return bool(_str(json_object(entry.get("paper")).get("withdrawnAt")) or _str(entry.get("withdrawnAt")))


def cohort_day(entry: Any) -> str | None:
    """The day (YYYY-MM-DD) the paper joined the daily listing (`submittedOnDailyAt`), if given.
    Hugging Face's guidance: a day's papers are those submitted to it that day; conference bulk
    imports and backfills listed under a day, but submitted on another, are not that day's."""
    if not isinstance(entry, dict):
        return None
    stamp = _str(json_object(entry.get("paper")).get("submittedOnDailyAt"))
    return stamp[:10] if stamp else None


def paper_from_hf(entry: Any, position: int | None = None, source: str = "hf_daily") -> Paper:
    """One daily_papers entry as a Paper. Raises ValueError when it is not an object or has no
    usable id or title.

    Text stays as HF gives it (the abstract keeps arXiv's line breaks and any LaTeX);
    `digest.util.clean.display` turns it into what a reader sees."""
    if not isinstance(entry, dict):
        raise ValueError("expected an object")
    inner = json_object(entry.get("paper"))

    def either(name: str) -> Any:
        return _first(inner.get(name), entry.get(name))

    raw_id = _str(inner.get("id")) or _str(entry.get("id"))
    if not raw_id:
        raise ValueError("entry has no paper id")
    pid = arxiv_id(raw_id) or raw_id
    title = _str(inner.get("title")) or _str(entry.get("title"))
    if not title:
        raise ValueError(f"paper {pid} has no title")
    authors = [name for name in map(_author, _list(inner.get("authors"))) if name]
    media = [*_list(entry.get("mediaUrls")), *_list(inner.get("mediaUrls"))]
    thumbnail = _first(
        _str(entry.get("thumbnail")),
        _str(entry.get("mediaUrl")),
        *map(_image, media),
    )
    keywords = either("ai_keywords")
    stars = _int(inner.get("githubStars"))
    return Paper(
        id=pid,
        title=one_line(title),
        abstract=_str(inner.get("summary")) or _str(entry.get("summary")) or "",
        authors=authors,
        organization=_org(inner.get("organization")) or _org(entry.get("organization")),
        published=_str(inner.get("publishedAt")),
        submitted=_str(inner.get("submittedOnDailyAt")) or _str(entry.get("publishedAt")),
        url=HF_PAPER_PAGE.format(id=pid),
        pdf_url=ARXIV_PDF.format(id=pid) if arxiv_id(pid) else None,
        code_url=_str(either("githubRepo")),
        project_url=_str(either("projectPage")),
        thumbnail=thumbnail,
        keywords=[one_line(k) for k in keywords if _str(k)] if isinstance(keywords, list) else [],
        summary=_str(either("ai_summary")),
        upvotes=_int(inner.get("upvotes"))
        if _int(inner.get("upvotes")) is not None
        else _int(entry.get("upvotes")),
        comments=_int(entry.get("numComments"))
        if _int(entry.get("numComments")) is not None
        else _int(inner.get("numComments")),
        stars=stars if stars is not None else _int(entry.get("githubStars")),
        position=position,
        sources=[source],
    )
