"""The gate every paper passes on its way in, whichever source or file it came from.

A source is data from the network, and nothing it sends may cost more than a real listing
does: a 1 MB title once made every message 2.9 MB. So every field is cut to a size no real
listing reaches, and every text loses the characters nothing downstream can carry (see
`models.safe_text`). Measured on the recorded public data in ../shared/fixtures (1,778 papers:
14 days of Hugging Face Daily Papers, arXiv API and RSS responses, two third-party HF feeds,
1,243 labelled arXiv papers in and beyond CS), against the caps here:

    field          longest seen                         cap
    title          145 characters                       1,000 (then cut at a word, with "…")
    abstract       3,040 (a geophysics paper)           10,000 (feeds may carry whole posts)
    summary        293                                  2,000
    authors        125 names                            10,000 names (LHC papers list ~5,000)
    a name         30 characters                        200 (authors, organisation: 52 seen)
    keywords       30 per paper, 69 characters each     100 terms of 100 characters
    categories     6 per paper                          100 terms of 100 characters
    a URL          85 characters                        1,000 (longer: dropped, never cut)
    an id          16 characters                        200 (longer: a stable digest of it)
    counts         upvotes, comments, stars, position   at most 1,000,000,000

A real paper is never touched (tests/test_paper_intake.py checks the margin on the recorded
data). The caps also bound what one paper can cost an email: at every cap at once, in a
script whose every letter takes eight bytes of HTML, an email of that one paper stays under
build.CLIP_GUARD (95 KB), so `Builder.message`, which leaves extras and then the lowest-ranked
papers out rather than let Gmail clip the footer, always has one that fits.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from ..models import Paper, safe_text

TITLE_CHARS = 1_000
ABSTRACT_CHARS = 10_000
SUMMARY_CHARS = 2_000
MAX_AUTHORS = 10_000
NAME_CHARS = 200
MAX_TERMS = 100
MAX_REPOS = 30
REPO = re.compile(r"(model|dataset|space):[A-Za-z0-9][\w.-]*/[\w.-]+")  # a Hub repository id
TERM_CHARS = 100
URL_CHARS = 1_000
# Every printable ASCII character stays as it is; only the rest of an IRI is percent-encoded.
_URL_AS_IS = "".join(map(chr, range(0x21, 0x7F)))
ID_CHARS = 200
DATE_CHARS = 64  # an ISO 8601 time is 25
MAX_COUNT = 10**9
_URLS = ("url", "pdf_url", "code_url", "project_url", "thumbnail")


def bounded(paper: Paper) -> Paper:
    """`paper`, changed in place: safe characters, every field within its cap. Raises
    ValueError when no visible title is left (a title of control characters)."""
    paper.title = _cut(paper.title, TITLE_CHARS)
    if not paper.title.strip():
        raise ValueError("the title has no printable characters")
    paper.id = _id(paper.id)
    paper.abstract = _cut(paper.abstract, ABSTRACT_CHARS)
    paper.summary = _cut(paper.summary, SUMMARY_CHARS) if paper.summary else paper.summary
    paper.organization = _cut(paper.organization, NAME_CHARS) if paper.organization else paper.organization
    paper.authors = _terms(paper.authors, MAX_AUTHORS, NAME_CHARS)
    paper.keywords = _terms(paper.keywords, MAX_TERMS, TERM_CHARS)
    paper.categories = _terms(paper.categories, MAX_TERMS, TERM_CHARS)
    paper.sources = _terms(paper.sources, MAX_TERMS, TERM_CHARS)
    paper.repos = [r for r in _terms(paper.repos, MAX_REPOS, TERM_CHARS) if REPO.fullmatch(r)]
    for name in _URLS:
        url = getattr(paper, name)
        if url is not None:
            setattr(paper, name, _url(url))
    for name in ("published", "submitted"):
        value = getattr(paper, name)
        if value is not None and len(value) > DATE_CHARS:
            setattr(paper, name, None)
    for name in ("upvotes", "comments", "stars", "position"):
        value = getattr(paper, name)
        if value is not None and value > MAX_COUNT:
            setattr(paper, name, MAX_COUNT)
    return paper


def _cut(text: str, limit: int) -> str:
    text = safe_text(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut).rstrip() + "…"


def _url(url: str) -> str | None:
    """A URL in ASCII, an IRI's other characters percent-encoded (as a browser sends them;
    as character references in the HTML each would cost eight bytes), or None when it is
    over URL_CHARS: cut short it would be a wrong URL."""
    url = safe_text(url).strip()
    if not url.isascii():
        url = quote(url, safe=_URL_AS_IS)
    return url if url and len(url) <= URL_CHARS else None


def _terms(values: list[str], most: int, limit: int) -> list[str]:
    out = []
    for value in values[:most]:
        value = _cut(value, limit).strip()
        if value:
            out.append(value)
    return out


def _id(value: str) -> str:
    """Ids are keys in the ledger and the archive: one too long to be real becomes a digest
    of itself, still the same id every time and still unique."""
    value = safe_text(value)
    if len(value) <= ID_CHARS:
        return value
    return "id:" + hashlib.sha256(value.encode()).hexdigest()[:32]
