"""Assemble an issue once, then each reader's message from it.

    papers -> Issue (themes, once) -> Prepared (trending, tokens, once)
           -> per reader: picks -> sections -> View -> Rendered -> wire bytes

No network, files or clock here: the caller brings papers, the time and the history.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from . import rank, themes, tokens
from .config import Config
from .due import local_date
from .mail import Envelope, compose
from .mail import html_wire_size as clip_size
from .models import Issue, Paper, Pick, Section, Subscriber, arxiv_id
from .render import Card, Links, Rendered, Renderer, View
from .windows import Window

if TYPE_CHECKING:
    from .similar import Profile


class SentPapers(Protocol):
    """What the history needs of the ledger (store.Ledger has it): the build stays pure."""

    def papers_sent(self, email: str, *, except_issue: str, since: str | None = None) -> frozenset[str]: ...


# Gmail clips an email whose HTML passes about 102 KB and hides the rest, the footer with the
# unsubscribe link included. The guard keeps the HTML part, as it travels, under 95 KB: a
# 20-paper digest is about 50 KB, but `max_papers` may say 100, and hostile or broken paper
# fields (cut at the intake, still up to 1,000 characters of title each) take room too.
CLIP_GUARD = 95 * 1024


class Trim(IntEnum):
    """What the clip guard gives up, in this order, until the HTML fits."""

    NOTHING = 0
    THUMBNAIL = 1  # the lead's picture
    LINKS = 2  # Abstract / PDF / Code / Project rows (the title still links)
    FEEDBACK = 3  # "More / Less like this"
    PAPERS = 4  # the lowest-ranked papers, said in the email: "And 12 more on the web"


def issues_url(base_url: str) -> str:
    """The web archive, as `digest serve` serves it: a page per issue, the index, the feed."""
    return f"{base_url}/issues"


def issue_url(base_url: str, issue_id: str) -> str:
    return f"{issues_url(base_url)}/{issue_id}"


def feed_url(base_url: str) -> str:
    return f"{issues_url(base_url)}/feed.xml"


def subscribe_url(base_url: str) -> str:
    return f"{base_url}/subscribe"


def make_issue(
    papers: list[Paper],
    now: datetime,
    tz: str,
    taxonomy: list[themes.Topic],
    *,
    max_themes: int = themes.MAX_THEMES,
    min_papers: int = themes.MIN_PAPERS,
) -> Issue:
    day = local_date(now, tz)
    grouping = themes.assign(papers, taxonomy, max_themes=max_themes, min_papers=min_papers)
    return Issue(
        id=day.isoformat(),
        date=day,
        papers=papers,
        themes=grouping.themes,
        built_at=now,
        fit=grouping.fit,
        topics={t.key: t.label for t in taxonomy},
        fields=grouping.fields,
    )


def issue_for(config: Config, papers: list[Paper], now: datetime) -> Issue:
    """The issue of `now` from `papers`, grouped with the configured taxonomy and limits."""
    t = config.themes
    return make_issue(
        papers,
        now,
        config.newsletter.timezone,
        themes.configured(config.themes),
        max_themes=t.max_themes,
        min_papers=t.min_papers,
    )


def options_from(config: Config) -> rank.Options:
    r = config.ranking
    return rank.Options(
        max_papers=r.max_papers,
        relevance_weight=r.relevance_weight,
        min_score=r.min_score,
        half_life_hours=r.half_life_hours,
        max_per_theme=r.max_per_theme,
    )


def options_for_window(options: rank.Options, window: Window | None) -> rank.Options:
    """A week's or a month's issue ranks its papers by what they did over the window: freshness
    fades over the window as it fades over a day for a daily issue (a half-life of 72 hours on
    a day's listing is one of 21 days on a week's), so Tuesday's most discussed paper is not
    lost to Monday's quiet one."""
    if window is None or window.single_day:
        return options
    return replace(options, half_life_hours=options.half_life_hours * window.length)


def history_since(issue: Issue, days: int) -> str | None:
    """The first issue id a reader's history reaches back to (None: all of it)."""
    return (issue.date - timedelta(days=days)).isoformat() if days else None


@dataclass
class Message:
    reader: Subscriber | None
    picks: list[Pick]
    rendered: Rendered
    envelope: Envelope
    raw: bytes  # the composed message, ready for any backend


class Builder:
    """Everything shared by an issue's messages; `message(reader)` is the per-reader part."""

    def __init__(
        self, config: Config, issue: Issue, now: datetime, secret: str, window: Window | None = None
    ):
        self.config = config
        self.issue = issue
        self.now = now
        self.secret = secret
        self.window = window
        self.note = ""  # the line the issue opens with (days with no papers before it)
        # Papers of the days before, climbing fastest (newsletter.rising), as picks with the
        # growth that put them there; each reader gets those they have not had.
        self.rising: list[Pick] = []
        self.options = options_for_window(options_from(config), window)
        self.prepared = rank.prepare(issue, now, self.options)
        if config.ranking.similarity == "embeddings":
            from . import embed, similar

            self.prepared.embeddings = embed.vectors(
                [similar.text_of(p.title, p.abstract) for p in issue.papers]
            )
        self.renderer = Renderer(
            config.templates, thumbnails=config.newsletter.thumbnails, subject=config.newsletter.subject
        )
        # Each paper's card is cleaned and rendered once per issue, then shared by every reader.
        self.cards: dict[str, Card] = {}

    def for_issue(self, issue: Issue, window: Window | None = None) -> Builder:
        """A builder for the same papers and themes under another issue id and date (readers
        in other time zones are on another day), and `window` (of the same length: the
        ranking's options depend on it). It shares the ranking's per-issue work, the
        compiled templates and the cards: none of them depend on the date (a card is the
        paper's alone, see render.once)."""
        if issue.papers is not self.issue.papers or issue.themes is not self.issue.themes:
            raise ValueError("Builder.for_issue: only the issue's id and date may differ")
        if (window.length if window else 1) != (self.window.length if self.window else 1):
            raise ValueError("Builder.for_issue: a window of another length ranks differently")
        other = copy.copy(self)
        other.issue = issue
        other.window = window
        return other

    def by_trending(self) -> list[Paper]:
        """The issue's papers, most trending first: the order a summaries endpoint is asked
        about them (digest/summaries.py picks those with no source summary)."""
        order = sorted(range(len(self.prepared.papers)), key=lambda i: -self.prepared.trending_list[i])
        return [self.prepared.papers[i] for i in order]

    def use_tldrs(self, tldrs: dict[str, str]) -> None:
        """Cards with the TL;DRs written for them (paper id -> sentence), made now so that
        every reader's email, and every date's builder sharing the cards, shows the same."""
        for paper in self.issue.papers:
            if paper.id in tldrs and paper.id not in self.cards:
                self.cards[paper.id] = self.renderer.card(paper, tldrs[paper.id])

    def links(self, email: str, unsubscribe: str | None = None) -> Links:
        """The reader's footer links (`unsubscribe`: their unsubscribe URL, if already made)."""
        base = self.config.newsletter.base_url
        return Links(
            web=issue_url(base, self.issue.id),
            preferences=f"{base}/preferences?token={tokens.sign(self.secret, 'preferences', email)}",
            unsubscribe=unsubscribe or self.unsubscribe_url(email),
            subscribe=subscribe_url(base),
        )

    def unsubscribe_url(self, email: str) -> str:
        token = tokens.sign(self.secret, "unsubscribe", email)
        return f"{self.config.newsletter.base_url}/unsubscribe?token={token}"

    def picks(
        self, reader: Subscriber, already_sent: frozenset[str] = frozenset(), profile: Profile | None = None
    ) -> list[Pick]:
        """The reader's papers, best first, then (newsletter.rising) the risers they lack."""
        chosen = rank.select(self.prepared, reader, self.options, already_sent, profile)
        if not self.rising or not chosen:
            return chosen
        have = already_sent | {arxiv_id(p.paper.id) or p.paper.id for p in chosen}
        risers = [p for p in self.rising if (arxiv_id(p.paper.id) or p.paper.id) not in have]
        return chosen + risers[: self.config.newsletter.rising]

    def history(self, ledger: SentPapers, email: str) -> frozenset[str]:
        """The papers `email` got in other issues within the configured lookback window."""
        since = history_since(self.issue, self.config.ranking.history_days)
        return ledger.papers_sent(email, except_issue=self.issue.id, since=since)

    def feedback_page(self, email: str) -> Callable[[str], str] | None:
        """The reader's "more / less like this" page for each paper, if the newsletter asks."""
        if not self.config.newsletter.feedback:
            return None
        base = self.config.newsletter.base_url
        return lambda paper_id: f"{base}/feedback?token={tokens.sign_feedback(self.secret, email, paper_id)}"

    def view(
        self,
        reader: Subscriber | None,
        sections: list[Section],
        links: Links,
        trim: Trim = Trim.NOTHING,
        left_out: int = 0,
    ) -> View:
        """What the templates get for one reader's email, or with no reader the web page."""
        news = self.config.newsletter
        feedback = self.feedback_page(reader.email) if reader is not None else None
        return self.renderer.view(
            newsletter=news.name,
            address=news.address,
            issue_date=self.issue.date,
            reader=reader,
            sections=sections,
            links=links,
            cards=self.cards,
            feedback=feedback if trim < Trim.FEEDBACK else None,
            show_thumbnail=trim < Trim.THUMBNAIL,
            show_links=trim < Trim.LINKS,
            left_out=left_out,
            window=self.window,
            note=self.note,
        )

    def message(self, reader: Subscriber, picks: list[Pick]) -> Message:
        """The reader's message. Its `picks` may be fewer than asked for: when the HTML would
        pass CLIP_GUARD, the clip guard (Trim) gives up extras and then the lowest-ranked
        papers, and what is left out is not recorded as sent, so a later issue may still
        carry it."""
        news = self.config.newsletter
        unsubscribe = self.unsubscribe_url(reader.email)  # signed once: the footer and the header
        links = self.links(reader.email, unsubscribe)
        rendered, picks = self.fitted(reader, picks, links)
        return_path, mailto = self.inbox_addresses(reader.email)
        envelope = Envelope(
            sender=news.sender,
            to_email=reader.email,
            to_name=reader.name,
            issue_id=self.issue.id,
            list_name=news.name,
            unsubscribe_url=unsubscribe,
            reply_to=news.reply_to,
            return_path=return_path,
            unsubscribe_mailto=mailto,
            message_tag=tokens.message_tag(self.secret, self.issue.id, reader.email),
        )
        return Message(reader, picks, rendered, envelope, compose(rendered, envelope, self.now))

    def sections(self, picks: list[Pick], reader: Subscriber | None) -> list[Section]:
        """The reader's picks in sections: the issue's themes, then "Rising" for the risers."""
        rising = {p.paper.id for p in self.rising}
        main = [p for p in picks if p.paper.id not in rising]
        risers = [p for p in picks if p.paper.id in rising]
        extra = [Section(themes.RISING_LABEL, risers, themes.RISING_KEY)] if risers else []
        return rank.sections(self.prepared, main, reader) + extra

    def fitted(self, reader: Subscriber, picks: list[Pick], links: Links) -> tuple[Rendered, list[Pick]]:
        """The reader's email under CLIP_GUARD, and the picks it holds."""
        asked, trim = len(picks), Trim.NOTHING
        while True:
            view = self.view(reader, self.sections(picks, reader), links, trim, asked - len(picks))
            rendered = self.renderer.render(view)
            # Base64 adds a third, so only an HTML over 3/4 of the guard can pass it.
            if len(rendered.html) * 4 <= CLIP_GUARD * 3:
                return rendered, picks
            size = clip_size(rendered.html)
            if size <= CLIP_GUARD:
                return rendered, picks
            if trim < Trim.PAPERS:
                trim = Trim(trim + 1)
                continue
            if len(picks) == 1:
                return rendered, picks
            # Best first: keep the share that fits, less one so the "more" line has room.
            picks = picks[: max(1, min(len(picks) - 1, len(picks) * CLIP_GUARD // size - 1))]

    def inbox_addresses(self, email: str) -> tuple[str | None, str | None]:
        """With `inbox:` configured, the reader's own return path (VERP) and the unsubscribe
        address `digest inbox` reads; without, bounces go to the sender and no mailto is given."""
        inbox = self.config.inbox
        if inbox is None:
            return None, None
        return (
            tokens.verp_address(inbox.address, self.secret, email),
            tokens.unsubscribe_address(inbox.address, self.secret, email),
        )
