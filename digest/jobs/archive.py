"""The web archive: each issue as a static page, an index of issues and an Atom feed.

    <archive>/<issue-id>.html   the issue as a reader without preferences gets it
    <archive>/<issue-id>.json   what the index and the feed need to know about it
    <archive>/index.html        every issue, newest first
    <archive>/feed.xml          Atom, the latest FEED_ENTRIES issues

Written by `digest send` and on demand by `digest archive`; served by `digest serve`, whose
pages live under {base_url}/issues. Writing is idempotent: an issue rebuilt with the same
papers leaves every file untouched, so running `send --due` every few minutes does not make
feed readers see an update each time. `page` and `entry` are pure; `write` and `rebuild` do
the file work.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import jinja2

from ..compose.build import Builder, feed_url, issue_for, issue_url, issues_url, subscribe_url
from ..compose.render import Item, Links, Rendered, View
from ..compose.templating import environment, load
from ..config import Config
from ..errors import DigestError
from ..issue import rank
from ..models import Subscriber, safe_text
from ..readers.due import local_date
from ..util.files import write_atomic
from .preview import papers_for

INDEX_TEMPLATE = "archive_index.html.j2"
FEED_ENTRIES = 30
ATOM = "http://www.w3.org/2005/Atom"
LEAD_LABEL = "Today's top paper"
# The reader the archive page is built for: no topics, keywords or history, so the page
# shows the day's most trending papers, as a new subscriber would get them.
ANYONE = Subscriber(email="archive@example.org")
_ISSUE_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Entry:
    """One archived issue, as the index and the feed list it."""

    id: str
    date: str
    date_text: str  # "Friday 14 August 2026"
    title: str
    summary: str
    url: str
    updated: str
    n_papers: int = 0
    themes: list[dict] = field(default_factory=list)  # [{"label", "papers": [{"title", "url", "tldr"}]}]


@dataclass
class Written:
    page: Path
    index: Path
    feed: Path
    entry: Entry
    changed: bool
    issues: int = 0
    problems: list[str] = field(default_factory=list)


def page(builder: Builder) -> tuple[Rendered, View]:
    """The issue's web page: the digest for a reader without preferences, with the web
    footer (subscribe, all issues, feed) in place of preferences and unsubscribe."""
    base = builder.config.newsletter.base_url
    links = Links(
        web=issue_url(base, builder.issue.id),
        subscribe=subscribe_url(base),
        archive=issues_url(base),
        feed=feed_url(base),
    )
    view = builder.view(None, rank.sections(builder.prepared, builder.picks(ANYONE)), links)
    return builder.renderer.render(view), view


def entry(view: View, issue_id: str, updated: datetime) -> Entry:
    return Entry(
        id=issue_id,
        date=view.issue_date.isoformat(),
        date_text=view.date_text,
        title=f"{view.newsletter}, {view.date_text}: {view.n_papers} trending paper{_s(view.n_papers)}",
        summary=view.preheader,
        url=view.links.web,
        updated=updated.isoformat(timespec="seconds"),
        n_papers=view.n_papers,
        themes=[
            {
                "label": label,
                "papers": [{"title": i.card.title, "url": i.card.url, "tldr": i.card.tldr} for i in items],
            }
            for label, items in _groups(view)
        ],
    )


def theme_names(themes: list[dict]) -> list[str]:
    """What an issue was about, for the index: its real themes only (not the lead's heading
    nor the catch-all), each sub-theme ("Language models: tokenizers") under its parent,
    "Language models (tokenizers; pretraining data)"."""
    subs: dict[str, list[str]] = {}
    for theme in themes:
        label = str(theme.get("label", ""))
        if not label or label in (LEAD_LABEL, rank.MORE_LABEL):
            continue
        parent, colon, sub = label.partition(": ")
        if colon and sub[1:2].islower():  # "Masked language modeling" reads as words in brackets
            sub = sub[0].lower() + sub[1:]
        subs.setdefault(parent if colon else label, []).extend([sub] if colon else [])
    return [f"{parent} ({'; '.join(found)})" if found else parent for parent, found in subs.items()]


def _groups(view: View) -> list[tuple[str, list[Item]]]:
    """The page's papers as the email shows them: the lead first, then each theme."""
    lead = [(LEAD_LABEL, [view.lead])] if view.lead else []
    return lead + [(s.label, s.items) for s in view.sections]


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def write(config: Config, builder: Builder) -> Written:
    """Write the issue's page and its entry, then the index and the feed."""
    folder = _folder(config)
    rendered, view = page(builder)
    html = rendered.html.encode()
    page_path = folder / f"{builder.issue.id}.html"
    meta_path = folder / f"{builder.issue.id}.json"
    new = entry(view, builder.issue.id, builder.now)
    try:
        changed = not (page_path.exists() and meta_path.exists() and page_path.read_bytes() == html)
        if changed:
            write_atomic(page_path, html)
            write_atomic(meta_path, json.dumps(asdict(new), ensure_ascii=False, indent=1).encode())
        index, feed, entries, problems = rebuild(config)
    except OSError as exc:
        raise DigestError(
            f"{config.path}: archive: cannot write the archive in {folder} "
            f"({exc.strerror or exc}); make it a folder you can write to, or point archive: elsewhere"
        ) from None
    return Written(page_path, index, feed, new, changed, issues=len(entries), problems=problems)


def write_empty_day(config: Config, day: date, line: str, now: datetime) -> list[str]:
    """A day with no papers in the index, with the line said about it (digest/issue/quiet_days.py);
    it has no page and no feed entry. A day that has an issue's page keeps it. Returns the
    problems rebuilding the index met."""
    folder = _folder(config)
    meta_path = folder / f"{day.isoformat()}.json"
    if (folder / f"{day.isoformat()}.html").exists() or meta_path.exists():
        return []  # written once: a run every few minutes must not make the index change
    quiet = Entry(
        id=day.isoformat(),
        date=day.isoformat(),
        date_text=f"{day:%A} {day.day} {day:%B %Y}",
        title=f"{config.newsletter.name}, {day:%A} {day.day} {day:%B %Y}: no issue",
        summary=line,
        url="",
        updated=now.isoformat(timespec="seconds"),
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_if_changed(meta_path, json.dumps(asdict(quiet), ensure_ascii=False, indent=1).encode())
        return rebuild(config)[3]
    except OSError as exc:
        return [f"{config.path}: archive: cannot write {meta_path} ({exc.strerror or exc})"]


def publish(config: Config, *, now: datetime, papers_file: Path | None = None) -> Written:
    """`digest archive`: the current issue from the configured sources (or a papers file),
    written to the archive. Problems with sources are reported with the archive's own."""
    papers, problems = papers_for(config, papers_file, local_date(now, config.newsletter.timezone))
    issue = issue_for(config, papers, now)
    builder = Builder(config, issue, now, config.secret())
    if config.summaries is not None:
        from ..store import stores
        from . import summaries

        with stores(config) as opened:
            warning = summaries.for_builder(config, builder, opened.tldrs)
        problems += [warning] if warning else []
    written = write(config, builder)
    written.problems[:0] = problems
    return written


def load_entries(folder: Path) -> tuple[list[Entry], list[str]]:
    """Every archived issue, newest first. An unreadable entry is reported, not fatal: the
    rest of the archive still gets its index."""
    entries, problems = [], []
    for path in sorted(folder.glob("*.json")):
        if not _ISSUE_FILE.match(path.stem):
            continue
        try:
            entries.append(Entry(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            problems.append(
                f"{path}: not a readable archive entry ({exc}); run `digest archive` for that day "
                "to write it again, or delete it"
            )
    entries.sort(key=lambda e: e.date, reverse=True)
    return entries, problems


def rebuild(config: Config) -> tuple[Path, Path, list[Entry], list[str]]:
    """index.html and feed.xml from the entries on disk; files are rewritten only when
    their content changes."""
    folder = _folder(config)
    entries, problems = load_entries(folder)
    news = config.newsletter
    env = environment(config.templates)
    env.filters["theme_names"] = theme_names
    try:
        index_html = load(env, INDEX_TEMPLATE).render(
            newsletter=news.name,
            entries=entries,
            feed=feed_url(news.base_url),
            subscribe=subscribe_url(news.base_url),
            address=news.address,
        )
    except jinja2.TemplateError as exc:
        raise DigestError(f"{INDEX_TEMPLATE}: template error: {exc}") from None
    index = folder / "index.html"
    feed = folder / "feed.xml"
    _write_if_changed(index, index_html.encode())
    issues = [e for e in entries if e.url]  # days with no papers have no page and no feed entry
    _write_if_changed(feed, atom(issues[:FEED_ENTRIES], news.name, news.base_url))
    return index, feed, entries, problems


def atom(
    entries: list[Entry],
    name: str,
    base_url: str,
    *,
    self_url: str | None = None,
    subtitle: str = "The day's trending research papers, grouped by theme.",
) -> bytes:
    """An Atom 1.0 feed (RFC 4287): one entry per issue, its papers as HTML content. The
    archive's own by default; `self_url` for another feed of issues (a reader's own)."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        # Papers are cleaned as they come in (sources/intake.py), but an entry written by an
        # older digest may still hold a NUL or a BEL, and one is enough to make the whole
        # feed unreadable XML.
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: safe_text(v) for k, v in attrs.items()})
        element.text = safe_text(text) if text else text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", name)
    sub(feed, "subtitle", subtitle)
    sub(feed, "id", self_url or issues_url(base_url))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url or feed_url(base_url))
    sub(feed, "link", rel="alternate", type="text/html", href=issues_url(base_url))
    sub(feed, "updated", max((e.updated for e in entries), default="1970-01-01T00:00:00+00:00"))
    author = sub(feed, "author")
    sub(author, "name", name)
    for e in entries:
        item = sub(feed, "entry")
        sub(item, "title", e.title)
        sub(item, "id", e.url)
        sub(item, "link", rel="alternate", type="text/html", href=e.url)
        sub(item, "published", f"{e.date}T00:00:00Z")
        sub(item, "updated", e.updated)
        sub(item, "summary", e.summary)
        sub(item, "content", _entry_html(e), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


_ENTRY_HTML = environment().from_string(
    "{% for t in e.themes %}<h3>{{ t.label }}</h3><ul>"
    '{% for p in t.papers %}<li><a href="{{ p.url }}">{{ p.title }}</a>: {{ p.tldr }}</li>{% endfor %}'
    "</ul>{% endfor %}"
)


def _entry_html(e: Entry) -> str:
    return _ENTRY_HTML.render(e=e)


def _folder(config: Config) -> Path:
    if config.archive is None:
        raise DigestError(f"{config.path}: archive: is off (null); set it to a folder, e.g. archive: archive")
    return config.archive


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    write_atomic(path, data)
