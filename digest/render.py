"""Turn one reader's sections into an email body: HTML (Jinja2 -> MJML -> HTML) and plain text.

Pure apart from reading templates once at start-up. Autoescaping is switched on explicitly
for the MJML and HTML templates (Jinja's select_autoescape does not know `.mjml.j2`), so a
title like `</mj-text><script>` reaches the MJML parser as text, never as markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from urllib.parse import quote_plus, urlsplit

import jinja2
from mjml import mjml2html

from .clean import display
from .errors import DigestError
from .models import Paper, Section, Subscriber, arxiv_id, one_line

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
TLDR_CHARS = 320
MAX_AUTHORS = 3


@dataclass
class Card:
    """A paper as the email shows it: everything already cleaned, cut and checked."""

    title: str
    url: str
    authors: str
    organization: str | None
    tldr: str
    links: list[tuple[str, str]]
    badges: list[str]
    reason: str | None


@dataclass
class Links:
    web: str
    preferences: str
    unsubscribe: str


@dataclass
class View:
    """Everything a template may use for one reader's digest."""

    newsletter: str
    address: str | None
    issue_date: date
    reader: Subscriber | None
    sections: list[tuple[Section, list[Card]]]
    links: Links
    n_papers: int = 0
    n_themes: int = 0
    preheader: str = ""
    subject: str = ""
    # Plain-text footnotes: each distinct URL and its number, in reading order.
    refs: dict[str, int] = field(default_factory=dict)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None: javascript:, data: and relative
    links from a feed never reach the email."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(c in url for c in "\r\n\t <>\"'")
    ):
        return None
    return url


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def tldr(paper: Paper, limit: int = TLDR_CHARS) -> str:
    """The source's one-line summary, else the abstract's first sentences, cut at `limit`."""
    text = display(paper.summary or paper.abstract)
    if paper.summary:
        return _cut(text, limit)
    out = ""
    for sentence in _SENTENCE_END.split(text):
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
        if len(out) >= limit // 2:
            break
    return _cut(out, limit)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def authors_line(authors: list[str]) -> str:
    if len(authors) <= MAX_AUTHORS:
        return ", ".join(authors)
    return ", ".join(authors[:MAX_AUTHORS]) + " et al."


def paper_url(paper: Paper) -> str:
    """The paper's page, or its arXiv abstract, or failing both a search for its title."""
    aid = arxiv_id(paper.id)
    return (
        safe_url(paper.url)
        or (f"https://arxiv.org/abs/{aid}" if aid else None)
        or f"https://arxiv.org/search/?query={quote_plus(paper.title)}&searchtype=title"
    )


def card(paper: Paper, reason: str | None) -> Card:
    aid = arxiv_id(paper.id)
    links = [
        ("Abstract", f"https://arxiv.org/abs/{aid}" if aid else None),
        ("PDF", safe_url(paper.pdf_url) or (f"https://arxiv.org/pdf/{aid}" if aid else None)),
        ("Code", safe_url(paper.code_url)),
        ("Project", safe_url(paper.project_url)),
    ]
    badges = [
        f"{count} {noun}{'' if count == 1 else 's'}"
        for count, noun in ((paper.upvotes, "upvote"), (paper.comments, "comment"), (paper.stars, "star"))
        if count
    ]
    return Card(
        title=display(paper.title, strip_tags=False),
        url=paper_url(paper),
        authors=authors_line(paper.authors),
        organization=paper.organization,
        tldr=tldr(paper),
        links=[(label, url) for label, url in links if url],
        badges=badges,
        reason=reason,
    )


def subject_line(newsletter: str, issue_date: date, sections: list[Section]) -> str:
    n = sum(len(s.picks) for s in sections)
    lead = sections[0].label if sections else "no new papers"
    noun = "paper" if n == 1 else "papers"
    return one_line(f"{newsletter}, {issue_date:%d %b}: {n} {noun}, led by {lead}")


def template_dirs(override: Path | None) -> list[str]:
    """Overrides first, then the templates shipped in the package."""
    shipped = str(resources.files("digest.templates"))
    return [str(override), shipped] if override else [shipped]


class Renderer:
    """Loads the templates once; `render` is called per reader."""

    def __init__(self, templates: Path | None = None):
        loader = jinja2.FileSystemLoader(template_dirs(templates))
        common = dict(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.html_env = jinja2.Environment(autoescape=True, **common)
        self.text_env = jinja2.Environment(autoescape=False, **common)
        try:
            self.html_template = self.html_env.get_template(HTML_TEMPLATE)
            self.text_template = self.text_env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise DigestError(f"template error: {exc}") from None

    def view(
        self,
        *,
        newsletter: str,
        address: str | None,
        issue_date: date,
        reader: Subscriber | None,
        sections: list[Section],
        links: Links,
    ) -> View:
        cards = [(s, [card(p.paper, p.reason) for p in s.picks]) for s in sections]
        refs: dict[str, int] = {}
        for _, section_cards in cards:
            for c in section_cards:
                for url in (c.url, *(u for _, u in c.links)):
                    refs.setdefault(url, len(refs) + 1)
        n_papers = sum(len(c) for _, c in cards)
        labels = [s.label for s in sections]
        preheader = f"{n_papers} trending papers on " + (
            ", ".join(labels[:3]) + (" and more" if len(labels) > 3 else "")
        )
        return View(
            newsletter=newsletter,
            address=address,
            issue_date=issue_date,
            reader=reader,
            sections=cards,
            links=links,
            n_papers=n_papers,
            n_themes=len(sections),
            preheader=one_line(preheader),
            subject=subject_line(newsletter, issue_date, sections),
            refs=refs,
        )

    def render(self, view: View) -> Rendered:
        context = {"v": view}
        try:
            mjml_source = self.html_template.render(context)
            text = self.text_template.render(context)
        except jinja2.TemplateError as exc:
            raise DigestError(f"template error: {exc}") from None
        try:
            html = mjml2html(mjml_source, disable_comments=True)
        except Exception as exc:  # MRML raises its own error types; fail loudly before sending
            raise DigestError(f"MJML error in {HTML_TEMPLATE}: {exc}") from None
        return Rendered(subject=view.subject, html=html, text=text)
