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

import functools
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from ..config import DEFAULT_SUBJECT
from ..errors import DigestError
from ..issue.themes import LABS_KEY, MORE_KEY, MORE_LABEL, RISING_KEY
from ..models import Paper, Pick, Rendered, Section, Subscriber, arxiv_id, one_line
from ..readers.windows import Window
from ..util.clean import display
from .templating import checked, environment, load
from .tldr import TLDR_CHARS, cut
from .tldr import opening as summary_opening
from .tldr import pick as pick_sentence

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
MAX_AUTHORS = 3
PREHEADER_CHARS = 140
# After the preheader, invisible padding (a zero-width non-joiner and a non-breaking space,
# repeated) so the inbox preview stops there instead of running on into the body text.
PREHEADER_PAD = "&zwnj;&nbsp;" * 12
PREHEADER_PAD_LINES = 8
SHORT_TITLE_CHARS = 60
ALONE_TITLE_CHARS = 78  # a one-paper issue's subject: the title, about what an inbox shows
NAME_ONLY_CHARS = 12  # a name before a title's colon this short is an acronym ("MBA", "RetroMAE v2")
_DANGLING = frozenset("a an and at by for from in into of on or the to via vs with without".split())
TEXT_WIDTH = 78
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
    """A card as one reader gets it: the reason it was picked for them, if any."""

    card: Card
    reason: str | None = None
    first: bool = False  # first of its section
    # The reader's "more / less like this" page for this paper (append &vote=more or
    # &vote=less); None in the web archive, or with newsletter.feedback off.
    feedback: str | None = None


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
    # The reader's best pick, shown first as the hero; not repeated in `sections`.
    lead: Item | None = None
    n_papers: int = 0
    n_themes: int = 0
    # What the clip guard (build.Trim) kept: the lead's thumbnail, the cards' link rows.
    show_thumbnail: bool = True
    show_links: bool = True
    left_out: int = 0  # papers the clip guard left out: "And N more on the web"
    preheader: str = ""
    subject: str = ""
    date_text: str = ""  # "Friday 14 August 2026"
    note: str = ""  # one line the issue opens with: "No issue on Saturday 15 August: ..."
    lead_label: str = "Today's top paper"  # "This week's top paper" in a week's issue


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
    endpoint, digest/jobs/summaries.py), else the abstract's sentence that says what the paper does
    (digest/compose/tldr.py); cleaned of markup and LaTeX and cut at `limit` characters."""
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


_REPO_PAGES = {"model": ("Model", ""), "dataset": ("Dataset", "datasets/"), "space": ("Space", "spaces/")}


def repo_links(repos: list[str]) -> list[tuple[str, str | None]]:
    """The first linked model, dataset and Space of a paper, each a link to its Hub page."""
    links: dict[str, tuple[str, str | None]] = {}
    for repo in repos:
        kind, _, name = repo.partition(":")
        if kind in _REPO_PAGES and kind not in links:
            label, folder = _REPO_PAGES[kind]
            links[kind] = (f"{label}: {name}", safe_url(f"https://huggingface.co/{folder}{name}"))
    return list(links.values())


def card(paper: Paper, *, thumbnails: bool = False, written_tldr: str | None = None) -> Card:
    aid = arxiv_id(paper.id)
    links = [
        ("Abstract", f"https://arxiv.org/abs/{aid}" if aid else None),
        ("PDF", safe_url(paper.pdf_url) or (f"https://arxiv.org/pdf/{aid}" if aid else None)),
        ("Code", safe_url(paper.code_url)),
        ("Project", safe_url(paper.project_url)),
        *repo_links(paper.repos),
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


def short_title(title: str, limit: int = SHORT_TITLE_CHARS, *, alone: bool = False) -> str:
    """A title for the subject line: the name before its colon ("Self-Forcing++: Towards ..."
    -> "Self-Forcing++") when it has one that says something, else the title cut on a word.
    A bare acronym ("MBA: ...", up to NAME_ONLY_CHARS) says nothing on its own, and a paper
    `alone` in its issue has the subject to itself: both get the whole title."""
    head, colon, _ = title.partition(":")
    head = head.strip()
    if colon and not alone and NAME_ONLY_CHARS < len(head) <= limit:
        return head
    return cut_title(title, ALONE_TITLE_CHARS if alone else limit)


def cut_title(title: str, limit: int) -> str:
    """`title` cut on a word, never after a word that needs the next ("... Pre-training for…")."""
    if len(title) <= limit:
        return title
    words = cut(title, limit).removesuffix("…").split()
    while len(words) > 1 and (words[-1].lower() in _DANGLING or words[-1].endswith(("-", ":"))):
        words.pop()
    return " ".join(words).rstrip(",;:") + "…"


def subject_line(
    newsletter: str, issue_date: date, sections: list[Section], template: str = DEFAULT_SUBJECT
) -> str:
    """The subject from `newsletter.subject` (checked when the config loads: only the
    fields of config.SUBJECT_FIELDS). Each value and the result are one line."""
    picks = [p for s in sections for p in s.picks]
    n = len(picks)
    top = lead_pick(picks)
    others = max(0, n - 1)
    if not others:
        template = template.replace(" and {more}", "")
    fields = {
        "name": newsletter,
        "date": f"{issue_date:%d %b}",
        "weekday": f"{issue_date:%A}",
        "count": n,
        "papers": f"{n} {'paper' if n == 1 else 'papers'}",
        "lead_theme": sections[0].label if sections else "no new papers",
        "lead": _lead_name(top.paper.title, not others) if top else "No new trending papers",
        "others": others,
        "more": f"{others} more trending paper{'' if others == 1 else 's'}",
    }
    return one_line(
        template.format_map({k: one_line(v) if isinstance(v, str) else v for k, v in fields.items()})
    )


def window_subject(window: Window | None, subject: str) -> str:
    """A week's or a month's issue says so first: "This week: Self-Forcing++ and 19 more"."""
    return f"{window.label}: {subject}" if window is not None and window.label else subject


def lead_label(window: Window | None) -> str:
    """The heading over the lead paper: "Today's top paper", "This week's top paper". Our own
    words (Markup): the apostrophe stays an apostrophe in the HTML."""
    return Markup(
        f"{window.label}'s top paper" if window is not None and window.label else "Today's top paper"
    )


def window_header(window: Window | None, issue_date: date) -> str:
    """The header's date line: the day ("Friday 14 August 2026") or the days a window holds
    ("This week: 4-10 August 2026")."""
    if window is not None and window.label:
        return f"{window.label}: {window.span}"
    return f"{issue_date:%A} {issue_date.day} {issue_date:%B %Y}"


@functools.lru_cache(maxsize=1024)  # per reader, and readers share their lead papers
def _lead_name(title: str, alone: bool) -> str:
    return short_title(display(title), alone=alone)


def lead_pick(picks: list[Pick]) -> Pick | None:
    """The reader's best pick (the first of equals): the paper the email opens with."""
    return max(picks, key=lambda p: p.score, default=None)


def preheader(lead: Item | None, sections: list[SectionView]) -> str:
    """The line an inbox shows after the subject: the lead paper, then what else is inside,
    with only whole titles (a title cut in the middle reads as a typo)."""
    if lead is None:
        return "No new trending papers today."
    text = lead.card.title
    rest = [item.card.title for s in sections for item in s.items]
    if not rest:
        return text
    tail = f" + {len(rest)} more"
    named: list[str] = []
    used = len(text) + len(tail)
    for title in rest:
        used += len(": " if not named else "; ") + len(title)
        if used > PREHEADER_CHARS:
            break
        named.append(title)
    return text + tail + (": " + "; ".join(named) if named else "")


def fold(sections: list[SectionView]) -> list[SectionView]:
    """Themes with a single paper go into "More trending papers" (kept last): a heading over
    one paper is not a group, and the contents list only real ones."""
    kept, loose, more, rising = [], [], None, []
    for s in sections:
        if s.key == MORE_KEY:
            more = s
        elif s.key == RISING_KEY:  # earlier days' papers: after the day's, however few
            rising.append(s)
        elif len(s.items) > 1 or s.key == LABS_KEY:  # the labs a reader follows stay pinned
            kept.append(s)
        else:
            loose.extend(s.items)
    items = loose + (more.items if more else [])
    if items:
        kept.append(SectionView(more.label if more else MORE_LABEL, MORE_KEY, items))
    kept += rising
    for s in kept:
        for i, item in enumerate(s.items):
            item.first = i == 0
    return kept


# --- templates -------------------------------------------------------------------------------


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


def wrap(text: str, indent: int = 0, first: str = "") -> str:
    """Plain text filled to TEXT_WIDTH, every line indented by `indent` spaces (`first`, if
    given, starts the first line instead). Words are never broken: a URL longer than a line
    stands on its own line."""
    pad = " " * indent
    return textwrap.fill(
        text,
        TEXT_WIDTH,
        initial_indent=first or pad,
        subsequent_indent=pad,
        break_long_words=False,
        break_on_hyphens=False,
    )


def link_line(url: str, label: str = "", indent: int = 0) -> str:
    """ "Label: URL" on one line when it fits in TEXT_WIDTH, else the label on one line and the
    URL alone on the next, so a client can still make the long token URL a link."""
    pad = " " * indent
    one = f"{pad}{label}: {url}" if label else f"{pad}{url}"
    if len(one) <= TEXT_WIDTH or not label:
        return one
    return f"{pad}{label}:\n{pad}{url}"


_READER_USE = re.compile(r"\breader\b\s*(\.\s*\w+|\[|\||\()?")
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


def _with_referenced(env: jinja2.Environment, sources: list[str]) -> list[str]:
    """`sources` and the sources of every template they include, import or extend."""
    from jinja2 import meta

    out, todo, done = list(sources), list(sources), set()
    while todo:
        for name in meta.find_referenced_templates(env.parse(todo.pop())):
            if name is None:  # a computed name: anything could be read
                out.append("{{ reader.unknown }}")
            elif name not in done:
                done.add(name)
                assert env.loader is not None
                found = env.loader.get_source(env, name)[0]
                out.append(found)
                todo.append(found)
    return out


class Renderer:
    """Loads and compiles the templates once; `render` is called per reader."""

    def __init__(
        self, templates: Path | None = None, *, thumbnails: bool = False, subject: str = DEFAULT_SUBJECT
    ):
        self.thumbnails = thumbnails
        self.subject = subject
        self.html_env = environment(templates, finalize=ascii_html)
        self.text_env = environment(templates, autoescape=False)
        self.html_env.filters["once"] = once("html", keep=ascii_html)
        self.text_env.filters["once"] = once("text")
        self.text_env.filters["wrap"] = wrap
        self.text_env.filters["link_line"] = link_line
        self.html_env.globals["PREHEADER_PAD"] = Markup("\n".join([PREHEADER_PAD] * PREHEADER_PAD_LINES))
        # Checked on the source first, so every error names the template's own file and line,
        # not a line of the HTML that MJML makes of it.
        self.html_source, self.html_filename = checked(self.html_env, HTML_TEMPLATE)
        self.text_template = load(self.text_env, TEXT_TEMPLATE)
        try:
            self.html_template = self.html_env.from_string(
                compile_layout(self.html_source, self.html_filename)
            )
        except jinja2.TemplateError as exc:
            raise DigestError(f"{self.html_filename}: template error (after MJML): {exc}") from None
        # Whether the email's templates read nothing of the reader but their address (as the
        # shipped ones do): readers then share a body whatever else their entries say
        # (digest/compose/build.py, Shared). Read from the tags of the sources, and of what they include
        # or import: a template that names the reader any other way counts as reading it all.
        assert self.text_env.loader is not None  # load() above read the same source through it
        text_source = self.text_env.loader.get_source(self.text_env, TEXT_TEMPLATE)[0]
        uses = {
            m.group(1) or ""
            for src in _with_referenced(self.text_env, [self.html_source, text_source])
            for tag in _JINJA_TAG.findall(_JINJA_COMMENT.sub("", src))
            for m in _READER_USE.finditer(tag)
        }
        self.reads_only_address = uses <= {"", ".email"}

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
        show_thumbnail: bool = True,
        show_links: bool = True,
        left_out: int = 0,
        window: Window | None = None,
        note: str = "",
    ) -> View:
        """`cards` caches cards by paper id across the readers of one issue; `feedback` gives
        the reader's feedback page for a paper id. The reader's best pick becomes the lead;
        single-paper themes fold into "More trending papers"."""
        cards = {} if cards is None else cards
        top = lead_pick([p for s in sections for p in s.picks])
        lead = None
        views = []
        for s in sections:
            items = []
            for pick in s.picks:
                c = cards.get(pick.paper.id)
                if c is None:
                    c = cards[pick.paper.id] = self.card(pick.paper)
                page = feedback(pick.paper.id) if feedback is not None else None
                item = Item(c, pick.reason, feedback=page)
                if pick is top:
                    lead = item
                else:
                    items.append(item)
            if items:
                views.append(SectionView(s.label, s.key, items))
        views = fold(views)
        return View(
            newsletter=newsletter,
            address=address,
            issue_date=issue_date,
            reader=reader,
            lead=lead,
            sections=views,
            links=links,
            n_papers=sum(len(s.items) for s in views) + (lead is not None),
            n_themes=len(views),
            show_thumbnail=show_thumbnail,
            show_links=show_links,
            left_out=left_out,
            preheader=one_line(preheader(lead, views)),
            subject=window_subject(window, subject_line(newsletter, issue_date, sections, self.subject)),
            date_text=window_header(window, issue_date),
            note=one_line(note),
            lead_label=lead_label(window),
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
