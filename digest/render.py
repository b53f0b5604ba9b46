"""Turn one reader's sections into an email body: HTML and plain text.

The MJML layout is compiled once per Renderer, with its Jinja tags still in it (MRML keeps
them inside text, attributes and `<mj-raw>`); each reader's email is then one Jinja render of
the compiled HTML. Card markup that depends only on the paper sits in the template's `card`
macro, called through the `once` filter (`{{ card | once(c) }}`): rendered once per paper per
issue and reused for every reader, so the per-reader work is the header, the reasons, the
footer and the joins. The HTML comes out pure ASCII (non-ASCII as character references), so
`mail.compose` can send it as it is.

Autoescaping is on for the HTML (Jinja's select_autoescape does not know `.mjml.j2`), and
paper text only ever enters at the Jinja stage, after MJML: a title like `</mj-text><script>`
is escaped data, never markup.

Pure apart from reading templates once at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from .clean import display
from .config import DEFAULT_SUBJECT
from .errors import DigestError
from .models import Paper, Section, Subscriber, arxiv_id, one_line
from .tldr import TLDR_CHARS, cut
from .tldr import opening as summary_opening
from .tldr import pick as pick_sentence

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
MAX_AUTHORS = 3
PREHEADER_CHARS = 140
# Paths that are moving pictures, not thumbnails: an <img> cannot show them.
_NOT_AN_IMAGE = (".mp4", ".webm", ".mov", ".m4v", ".avi", ".mkv")


@dataclass
class Card:
    """A paper as the email shows it: cleaned, cut and checked once per issue, the same for
    every reader. `fragments` holds what the `once` filter rendered for it."""

    id: str
    title: str
    url: str
    authors: str
    organization: str | None
    tldr: str
    links: list[tuple[str, str]]
    badges: list[str]
    thumbnail: str | None = None
    fragments: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Item:
    """A card as one reader gets it: the reason it was picked for them, if any, and where it
    sits in their email (plain-text footnote numbers: `ref` for the paper's page, then one per
    entry of `card.links`)."""

    card: Card
    reason: str | None = None
    first: bool = False  # first of its section
    ref: int = 0
    link_refs: list[tuple[str, int]] = field(default_factory=list)
    # The reader's "more / less like this" page for this paper (append &vote=more or
    # &vote=less), and its footnote in the plain text; None in the web archive, or with
    # newsletter.feedback off.
    feedback: str | None = None
    feedback_ref: int = 0


@dataclass
class SectionView:
    label: str
    key: str
    items: list[Item]


@dataclass
class Links:
    """Absolute links for the footer. A reader's email has preferences and unsubscribe;
    the web archive page has subscribe, the archive index and the feed instead."""

    web: str
    preferences: str | None = None
    unsubscribe: str | None = None
    subscribe: str | None = None
    archive: str | None = None
    feed: str | None = None


@dataclass
class View:
    """Everything a template may use for one reader's digest."""

    newsletter: str
    address: str | None
    issue_date: date
    reader: Subscriber | None
    sections: list[SectionView]
    links: Links
    n_papers: int = 0
    n_themes: int = 0
    preheader: str = ""
    subject: str = ""
    date_text: str = ""  # "Friday 14 August 2026"
    # Plain-text footnotes: each distinct URL and its number, in reading order.
    refs: dict[str, int] = field(default_factory=dict)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


# --- what a card shows -----------------------------------------------------------------------


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
        or any(c in url for c in "\r\n\t <>\"'`\\")
    ):
        return None
    return url


def tldr(paper: Paper, limit: int = TLDR_CHARS, written: str | None = None) -> str:
    """The source's summary (HF `ai_summary`), else `written` (a sentence from the summaries
    endpoint, digest/summaries.py), else the abstract's sentence that says what the paper does
    (digest/tldr.py); cleaned of markup and LaTeX and cut at `limit` characters."""
    if paper.summary:
        return summary_opening(paper.summary, limit)
    if written:
        return cut(display(written), limit)
    return pick_sentence(paper.title, paper.abstract, limit)


def authors_line(authors: list[str]) -> str:
    if len(authors) <= MAX_AUTHORS:
        return ", ".join(authors)
    return ", ".join(authors[:MAX_AUTHORS]) + " et al."


def count(n: int) -> str:
    """1234 -> 1.2k: badges are glanced at, not read."""
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"


def badges(paper: Paper) -> list[str]:
    """Only the signals the source gave and that say something: no '0 comments'."""
    signals = ((paper.upvotes, "upvote"), (paper.comments, "comment"), (paper.stars, "star"))
    return [f"{count(n)} {noun}{'' if n == 1 else 's'}" for n, noun in signals if n]


def paper_url(paper: Paper) -> str:
    """The paper's page, or its arXiv abstract, or failing both a search for its title."""
    aid = arxiv_id(paper.id)
    return (
        safe_url(paper.url)
        or (f"https://arxiv.org/abs/{aid}" if aid else None)
        or f"https://arxiv.org/search/?query={quote_plus(paper.title)}&searchtype=title"
    )


def thumbnail_url(paper: Paper) -> str | None:
    url = safe_url(paper.thumbnail)
    if url and urlsplit(url).path.lower().endswith(_NOT_AN_IMAGE):
        return None
    return url


def card(paper: Paper, *, thumbnails: bool = False, written_tldr: str | None = None) -> Card:
    aid = arxiv_id(paper.id)
    links = [
        ("Abstract", f"https://arxiv.org/abs/{aid}" if aid else None),
        ("PDF", safe_url(paper.pdf_url) or (f"https://arxiv.org/pdf/{aid}" if aid else None)),
        ("Code", safe_url(paper.code_url)),
        ("Project", safe_url(paper.project_url)),
    ]
    return Card(
        id=paper.id,
        title=display(paper.title, strip_tags=False),
        url=paper_url(paper),
        authors=authors_line([display(a) for a in paper.authors]),
        organization=display(paper.organization) if paper.organization else None,
        tldr=tldr(paper, written=written_tldr),
        links=[(label, url) for label, url in links if url],
        badges=badges(paper),
        thumbnail=thumbnail_url(paper) if thumbnails else None,
    )


def subject_line(
    newsletter: str, issue_date: date, sections: list[Section], template: str = DEFAULT_SUBJECT
) -> str:
    """The subject from `newsletter.subject` (checked when the config loads: only the
    fields of config.SUBJECT_FIELDS). Each value and the result are one line."""
    n = sum(len(s.picks) for s in sections)
    fields = {
        "name": newsletter,
        "date": f"{issue_date:%d %b}",
        "weekday": f"{issue_date:%A}",
        "count": n,
        "papers": f"{n} {'paper' if n == 1 else 'papers'}",
        "lead_theme": sections[0].label if sections else "no new papers",
    }
    return one_line(
        template.format_map({k: one_line(v) if isinstance(v, str) else v for k, v in fields.items()})
    )


def preheader(sections: list[SectionView]) -> str:
    """The line an inbox shows after the subject: the lead paper, then what else is inside."""
    items = [item for s in sections for item in s.items]
    if not items:
        return "No new trending papers today."
    lead = items[0].card.title
    if len(items) == 1:
        return cut(lead, PREHEADER_CHARS)
    labels = [s.label for s in sections]
    themes = ", ".join(labels[:3]) + (" and more" if len(labels) > 3 else "")
    rest = f" + {len(items) - 1} more on {themes}"
    return cut(lead, max(40, PREHEADER_CHARS - len(rest))) + rest


# --- templates -------------------------------------------------------------------------------


def template_dirs(override: Path | None) -> list[str]:
    """Overrides first, then the templates shipped in the package."""
    shipped = str(resources.files("digest.templates"))
    return [str(override), shipped] if override else [shipped]


def once(tag: str, keep: Callable[[Any], Any] = lambda fragment: fragment) -> Callable[[Any, Card], Any]:
    """The `once` filter: `{{ card | once(c) }}` calls the template's macro `card` with the
    Card `c` for the first reader who gets that paper, and reuses the result for every other
    reader of the issue (it is kept on the Card, which lives as long as the issue). Only
    what depends on the paper alone may go in such a macro; never a reader's details or a
    position in their list. `tag` keeps the HTML and the text template's fragments apart;
    `keep` transforms a fragment once before it is stored."""

    def cached(macro: Any, card: Card) -> Any:
        key = (tag, macro.name)
        fragment = card.fragments.get(key)
        if fragment is None:
            fragment = card.fragments[key] = keep(macro(card))
        return fragment

    return cached


def ascii_html(value: Any) -> Any:
    """Every `{{ }}` in the HTML, escaped and with non-ASCII letters as character references
    (`é` -> `&#233;`), so the email is pure ASCII: it then travels as 7bit with no transfer
    encoding to pay for per reader, and every HTML parser reads it back the same."""
    if isinstance(value, str) and not value.isascii():
        return Markup(escape(value).encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return value


def _ascii_outside_tags(html: str) -> str:
    """The compiled layout's own text as ASCII; Jinja tags are left alone (their output goes
    through `ascii_html`)."""
    out, last = [], 0
    for tag in _JINJA_TAG.finditer(html):
        out.append(html[last : tag.start()].encode("ascii", "xmlcharrefreplace").decode("ascii"))
        out.append(tag.group(0))
        last = tag.end()
    out.append(html[last:].encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return "".join(out)


def footnotes(refs: list[tuple[str, int]], sep: str = "  ") -> str:
    """[("Abstract", 2), ("PDF", 3)] -> "Abstract [2]  PDF [3]", for the plain-text links row."""
    return sep.join(f"{label} [{n}]" for label, n in refs)


def link_list(refs: dict[str, int]) -> str:
    """{"https://a": 1, "https://b": 2} -> "[1] https://a\n[2] https://b": the footnotes."""
    return "\n".join(f"[{n}] {url}" for url, n in refs.items())


_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_LEFTOVER_MJ = re.compile(r"</?(mj-[a-z-]+)")
# The template's indentation: a newline and the spaces after it render as one space anyway.
_INDENT = re.compile(r"\n[ \t]+")
# Where a newline changes nothing on screen: after MJML's table rows and block elements,
# before its tables, blocks and Outlook conditionals (MJML columns are inline blocks, but
# their parent has font-size 0, so a space between them is zero wide). MRML writes everything
# on a few very long lines, which spam filters score and SMTP caps at 998 octets.
_LINE_BREAK_AFTER = re.compile(r"(</tr>|</table>|</div>|</p>|</h[1-6]>|<!\[endif\]-->)(?!\n)")
_LINE_BREAK_BEFORE = re.compile(r"(?<=[^\n])(<table\b|<div\b|<!--\[if )")


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def compile_layout(source: str, name: str) -> str:
    """MJML with Jinja tags -> HTML with the same Jinja tags. Fails loudly, naming the file
    and line, on anything that would otherwise send a broken email."""
    # Comments go first (keeping line numbers): they may say anything, `<` included.
    source = _JINJA_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    problems = []
    for tag in _JINJA_TAG.finditer(source):
        if "<" in tag.group(0):
            problems.append(
                f"{name}:{_line_of(source, tag.start())}: `<` inside the Jinja tag {one_line(tag.group(0))} "
                "breaks MJML; swap the operands and use `>`"
            )
    if problems:
        raise DigestError(problems)
    try:
        html = mjml2html(source, disable_comments=True, fonts={})
    except Exception as exc:  # MRML raises ValueError without a position
        raise DigestError(
            f"{name}: MJML cannot parse the layout: {exc}. Look for an unclosed or misspelt "
            "<mj-...> element or a stray `<`."
        ) from None
    for element in dict.fromkeys(_LEFTOVER_MJ.findall(html)):
        lines = sorted({_line_of(source, m.start()) for m in re.finditer(f"</?{element}\\b", source)})
        where = f":{lines[0]}" if lines else ""
        problems.append(f"{name}{where}: unknown MJML element <{element}>; MJML would pass it through as is")
    kept = _JINJA_TAG.findall(html)
    for tag in _JINJA_TAG.finditer(source):
        if tag.group(0) in kept:
            kept.remove(tag.group(0))
        else:
            problems.append(
                f"{name}:{_line_of(source, tag.start())}: MJML dropped or changed {one_line(tag.group(0))}; "
                "put Jinja tags that sit between MJML elements inside <mj-raw>"
            )
    if problems:
        raise DigestError(problems)
    html = _INDENT.sub("\n", html)
    html = _LINE_BREAK_AFTER.sub("\\1\n", html)
    return _ascii_outside_tags(_LINE_BREAK_BEFORE.sub("\n\\1", html))


class Renderer:
    """Loads and compiles the templates once; `render` is called per reader."""

    def __init__(
        self, templates: Path | None = None, *, thumbnails: bool = False, subject: str = DEFAULT_SUBJECT
    ):
        self.thumbnails = thumbnails
        self.subject = subject
        loader = jinja2.FileSystemLoader(template_dirs(templates))
        common: dict[str, Any] = dict(
            loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
        )
        self.html_env = jinja2.Environment(autoescape=True, finalize=ascii_html, **common)
        self.text_env = jinja2.Environment(autoescape=False, **common)
        self.html_env.filters["once"] = once("html", keep=ascii_html)
        self.text_env.filters["once"] = once("text")
        for env in (self.html_env, self.text_env):
            env.filters["footnotes"] = footnotes
            env.filters["link_list"] = link_list
        try:
            source, filename, _ = loader.get_source(self.html_env, HTML_TEMPLATE)
            self.html_env.parse(source, HTML_TEMPLATE, filename)  # Jinja errors with source lines
            self.html_source = source
            self.html_filename = filename
            self.html_template = self.html_env.from_string(compile_layout(source, filename))
            self.text_template = self.text_env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateSyntaxError as exc:
            raise DigestError(
                f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}"
            ) from None
        except jinja2.TemplateError as exc:
            raise DigestError(f"template error: {exc}") from None

    def card(self, paper: Paper, written_tldr: str | None = None) -> Card:
        return card(paper, thumbnails=self.thumbnails, written_tldr=written_tldr)

    def view(
        self,
        *,
        newsletter: str,
        address: str | None,
        issue_date: date,
        reader: Subscriber | None,
        sections: list[Section],
        links: Links,
        cards: dict[str, Card] | None = None,
        feedback: Callable[[str], str] | None = None,
    ) -> View:
        """`cards` caches cards by paper id across the readers of one issue; `feedback` gives
        the reader's feedback page for a paper id."""
        cards = {} if cards is None else cards
        refs: dict[str, int] = {}
        views = []
        for s in sections:
            items = []
            for pick in s.picks:
                c = cards.get(pick.paper.id)
                if c is None:
                    c = cards[pick.paper.id] = self.card(pick.paper)
                ref = refs.setdefault(c.url, len(refs) + 1)
                link_refs = [(label, refs.setdefault(url, len(refs) + 1)) for label, url in c.links]
                page = feedback(pick.paper.id) if feedback is not None else None
                page_ref = refs.setdefault(page, len(refs) + 1) if page is not None else 0
                items.append(
                    Item(c, pick.reason, not items, ref, link_refs, feedback=page, feedback_ref=page_ref)
                )
            views.append(SectionView(s.label, s.key, items))
        return View(
            newsletter=newsletter,
            address=address,
            issue_date=issue_date,
            reader=reader,
            sections=views,
            links=links,
            n_papers=sum(len(s.items) for s in views),
            n_themes=len(views),
            preheader=one_line(preheader(views)),
            subject=subject_line(newsletter, issue_date, sections, self.subject),
            date_text=f"{issue_date:%A} {issue_date.day} {issue_date:%B %Y}",
            refs=refs,
        )

    def render(self, view: View) -> Rendered:
        context = {"v": view}
        try:
            html = self.html_template.render(context)
        except jinja2.TemplateError as exc:
            raise DigestError(f"{self.html_filename}: template error: {exc}") from None
        try:
            text = self.text_template.render(context)
        except jinja2.TemplateError as exc:
            raise DigestError(f"{self.text_template.filename}: template error: {exc}") from None
        return Rendered(subject=view.subject, html=html, text=text)
