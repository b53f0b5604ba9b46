"""The Hugging Face `/api/daily_papers` shape, normalised to Paper.

The shape has moved over the years (2024: `mediaUrl`; later `thumbnail` and `mediaUrls`;
`githubRepo`/`githubStars` under `paper`; `ai_summary` and `ai_keywords` from 2025), so every
field is read defensively from both the entry and its `paper`, and a wrong type reads as absent.
"""

from __future__ import annotations

from typing import Any

from ..models import Paper, arxiv_id, one_line

HF_PAPER_PAGE = "https://huggingface.co/papers/{id}"
ARXIV_PDF = "https://arxiv.org/pdf/{id}"


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [])), None)


def _org(value: Any) -> str | None:
    if isinstance(value, dict):
        return _str(value.get("fullname")) or _str(value.get("name"))
    return _str(value)


def paper_from_hf(entry: dict[str, Any], position: int | None = None, source: str = "hf_daily") -> Paper:
    """One daily_papers entry as a Paper. Raises ValueError when it has no usable id or title."""
    inner = entry.get("paper") if isinstance(entry.get("paper"), dict) else {}
    raw_id = _str(inner.get("id")) or _str(entry.get("id"))
    if not raw_id:
        raise ValueError("entry has no paper id")
    pid = arxiv_id(raw_id) or raw_id
    title = _str(inner.get("title")) or _str(entry.get("title"))
    if not title:
        raise ValueError(f"paper {pid} has no title")
    authors = [
        one_line(a["name"]) for a in inner.get("authors") or [] if isinstance(a, dict) and _str(a.get("name"))
    ]
    media = _first(
        _str(entry.get("thumbnail")),
        _str(entry.get("mediaUrl")),
        *[_str(u) for u in entry.get("mediaUrls") or [] if isinstance(entry.get("mediaUrls"), list)],
    )
    keywords = inner.get("ai_keywords")
    return Paper(
        id=pid,
        title=one_line(title),
        abstract=(_str(inner.get("summary")) or _str(entry.get("summary")) or ""),
        authors=authors,
        organization=_org(inner.get("organization")) or _org(entry.get("organization")),
        published=_str(inner.get("publishedAt")),
        submitted=_str(inner.get("submittedOnDailyAt")) or _str(entry.get("publishedAt")),
        url=HF_PAPER_PAGE.format(id=pid),
        pdf_url=ARXIV_PDF.format(id=pid) if arxiv_id(pid) else None,
        code_url=_str(inner.get("githubRepo")) or _str(entry.get("githubRepo")),
        project_url=_str(inner.get("projectPage")),
        thumbnail=media,
        keywords=[one_line(k) for k in keywords if _str(k)] if isinstance(keywords, list) else [],
        summary=_str(inner.get("ai_summary")),
        upvotes=_int(inner.get("upvotes")),
        comments=_int(entry.get("numComments")),
        stars=_int(inner.get("githubStars"))
        if _int(inner.get("githubStars")) is not None
        else _int(entry.get("githubStars")),
        position=position,
        sources=[source],
    )
