"""Assemble an issue once, then each reader's message from it.

    papers -> Issue (themes, once) -> Prepared (trending, tokens, once)
           -> per reader: picks -> sections -> View -> Rendered -> wire bytes

No network, files or clock here: the caller brings papers, the time and the history.
"""

from __future__ import annotations

import copy
import functools
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from ..config import Config
from ..issue import rank, themes
from ..models import Issue, Paper, Pick, Rendered, Section, Subscriber, arxiv_id
from ..readers.due import local_date
from ..readers.windows import Window
from . import splice, tokens
from .mail import Envelope, compose
from .mail import html_wire_size as clip_size
from .render import Card, Links, Renderer, View

if TYPE_CHECKING:
    from ..issue.similar import Profile


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
            from ..issue import embed, similar

            self.prepared.embeddings = embed.vectors(
                [similar.text_of(p.title, p.abstract) for p in issue.papers]
            )
        self.renderer = Renderer(
            config.templates, thumbnails=config.newsletter.thumbnails, subject=config.newsletter.subject
        )
        # Each paper's card is cleaned and rendered once per issue, then shared by every reader.
        self.cards: dict[str, Card] = {}
        self.shared = Shared()  # bodies shared by readers who get the same email

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
        other.shared = Shared()  # its links name its own issue
        other.window = window
        return other

    def by_trending(self) -> list[Paper]:
        """The issue's papers, most trending first: the order a summaries endpoint is asked
        about them (digest/jobs/summaries.py picks those with no source summary)."""
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
        return self._links(
            tokens.sign(self.secret, "preferences", email), unsubscribe or self.unsubscribe_url(email)
        )

    def _links(self, preferences_token: str, unsubscribe: str) -> Links:
        base = self.config.newsletter.base_url
        return Links(
            web=issue_url(base, self.issue.id),
            preferences=f"{base}/preferences?token={preferences_token}",
            unsubscribe=unsubscribe,
            subscribe=subscribe_url(base),
        )

    def unsubscribe_url(self, email: str) -> str:
        return self._unsubscribe_url(tokens.sign(self.secret, "unsubscribe", email))

    def _unsubscribe_url(self, token: str) -> str:
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

    def feedback_page(
        self, email: str, token: Callable[[str], str] | None = None
    ) -> Callable[[str], str] | None:
        """The reader's "more / less like this" page for each paper, if the newsletter asks
        (`token`: the paper id's token, if not the reader's signed one)."""
        if not self.config.newsletter.feedback:
            return None
        base = self.config.newsletter.base_url
        if token is None:
            return lambda paper_id: (
                f"{base}/feedback?token={tokens.sign_feedback(self.secret, email, paper_id)}"
            )
        return lambda paper_id: f"{base}/feedback?token={token(paper_id)}"

    def view(
        self,
        reader: Subscriber | None,
        sections: list[Section],
        links: Links,
        trim: Trim = Trim.NOTHING,
        left_out: int = 0,
        feedback: Callable[[str], str] | None = None,
    ) -> View:
        """What the templates get for one reader's email, or with no reader the web page
        (`feedback`: the reader's feedback pages, if not made from their address)."""
        news = self.config.newsletter
        if feedback is None and reader is not None:
            feedback = self.feedback_page(reader.email)
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
        carry it. Readers who would get the same email but for their address and links share
        one rendered body (`shared`): the bytes are the same as if it was made for them alone."""
        shared = self.shared.message(self, reader, picks)
        if shared is not None:
            return shared
        return self.alone(reader, picks)

    def alone(self, reader: Subscriber, picks: list[Pick]) -> Message:
        """The reader's message, rendered for them alone."""
        unsubscribe = self.unsubscribe_url(reader.email)  # signed once: the footer and the header
        links = self.links(reader.email, unsubscribe)
        rendered, picks = self.fitted(reader, picks, links)
        return self.composed(reader, picks, rendered, unsubscribe)

    def composed(
        self, reader: Subscriber, picks: list[Pick], rendered: Rendered, unsubscribe: str
    ) -> Message:
        """The reader's rendered email with its envelope, as it goes on the wire."""
        news = self.config.newsletter
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

    def fitted(
        self,
        reader: Subscriber,
        picks: list[Pick],
        links: Links,
        feedback: Callable[[str], str] | None = None,
        real: Callable[[str], str] = str,
    ) -> tuple[Rendered, list[Pick]]:
        """The reader's email under CLIP_GUARD, and the picks it holds. `real`: the HTML as the
        reader gets it, when `reader` stands in for them (Shared): the guard measures that."""
        asked, trim = len(picks), Trim.NOTHING
        while True:
            sections = self.sections(picks, reader)
            view = self.view(reader, sections, links, trim, asked - len(picks), feedback)
            rendered = self.renderer.render(view)
            html = real(rendered.html)
            # Base64 adds a third, so only an HTML over 3/4 of the guard can pass it.
            if len(html) * 4 <= CLIP_GUARD * 3:
                return rendered, picks
            size = clip_size(html)
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


# --- bodies shared by readers -----------------------------------------------------------------

SHARED_BODIES = 64  # distinct bodies kept at once (the most recent): 64 x 2 parts x ~60 KB
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")  # HTML, JSON and wrapping leave it as it is


@dataclass
class _Body:
    subject: str
    html: splice.Pieces
    text: splice.Pieces
    picks: list[Pick]
    lengths: tuple[int, ...]  # of the strings each stand-in stands for

    @functools.cached_property
    def used(self) -> frozenset[int]:
        return self.html.used | self.text.used


class Shared:
    """One rendered body (digest/compose/splice.py) per distinct email of an issue: readers with the
    same picks and reasons, an address of the same length and, when the templates read more of
    the reader than their address, the same entry. A shape is rendered alone the first time
    and shared from its second reader on, so a list where nobody shares pays nothing extra."""

    def __init__(self) -> None:
        self.on = True  # off for good once the templates are found to transform the address
        self.checked = False
        self.seen: OrderedDict[tuple, None] = OrderedDict()
        self.bodies: OrderedDict[tuple, _Body | None] = OrderedDict()

    def message(self, builder: Builder, reader: Subscriber, picks: list[Pick]) -> Message | None:
        key = self.shape(builder, reader, picks)
        if key is None:
            return None
        if key not in self.bodies:
            if key not in self.seen:
                _remember(self.seen, key, None)
                return None
            _remember(self.bodies, key, self.body(builder, reader, picks))
        body = self.bodies[key]
        if body is None:
            return None
        strings = _Strings(builder, reader.email, [p.paper.id for p in picks])
        values = [
            strings.value(k) if k in body.html.used or k in body.text.used else ""
            for k in range(len(body.lengths))
        ]
        if any(v and len(v) != n for v, n in zip(values, body.lengths, strict=True)):
            return None
        rendered = Rendered(body.subject, body.html.join(values), body.text.join(values))
        return builder.composed(
            reader, body.picks, rendered, builder._unsubscribe_url(strings.value(_UNSUBSCRIBE))
        )

    def shape(self, builder: Builder, reader: Subscriber, picks: list[Pick]) -> tuple | None:
        if not self.on or len(reader.email) < 8 or not _PLAIN_ADDRESS.fullmatch(reader.email):
            return None
        if not all(splice.clear(p.reason) and splice.clear(p.paper.id) for p in picks):
            return None
        who = "" if builder.renderer.reads_only_address else reader.model_dump_json(exclude={"email"})
        # The sections as this reader's email arranges them, not only the picks: whatever of an
        # entry orders the email outside the templates (the labs it follows pin a section of
        # their own) then keeps readers apart without being named here.
        sections = tuple(
            (s.key, s.label, tuple((p.paper.id, p.score, p.trending, p.relevance, p.reason) for p in s.picks))
            for s in builder.sections(picks, reader)
        )
        return (len(reader.email), who, sections)

    def body(self, builder: Builder, reader: Subscriber, picks: list[Pick]) -> _Body | None:
        """The stand-in body of this shape. The first of an issue is checked against a message
        built alone for a probe address of mixed case and symbols: templates that transform
        the address (`| upper`, `| urlencode`) turn sharing off."""
        strings = _Strings(builder, reader.email, [p.paper.id for p in picks])
        body = _stand_in_body(builder, reader, picks, strings)
        if body is not None and not self.checked:
            self.checked = True
            probe = reader.model_copy(update={"email": _probe(len(reader.email))})
            mine = _Strings(builder, probe.email, strings.paper_ids)
            values = [mine.value(k) for k in range(mine.count)]
            alone = builder.alone(probe, picks).rendered
            if (body.html.join(values), body.text.join(values)) != (alone.html, alone.text):
                self.on = False
                return None
        return body


def _probe(length: int) -> str:
    """An address of `length` characters with every kind of character an address shared can have."""
    return ("Qz9.X_y+W-v8" * length)[: max(1, length - 6)] + "@Ab.Cd"


_EMAIL, _PREFERENCES, _UNSUBSCRIBE = 0, 1, 2  # then a feedback token per pick


class _Strings:
    """A reader's own strings, made as asked: their address, their tokens."""

    def __init__(self, builder: Builder, email: str, paper_ids: list[str]):
        self.builder, self.email, self.paper_ids = builder, email, paper_ids
        self.count = 3 + len(paper_ids)
        self.made: dict[int, str] = {}

    def value(self, k: int) -> str:
        if k not in self.made:
            self.made[k] = self.make(k)
        return self.made[k]

    def make(self, k: int) -> str:
        secret = self.builder.secret
        if k == _EMAIL:
            return self.email
        if k == _PREFERENCES:
            return tokens.sign(secret, "preferences", self.email)
        if k == _UNSUBSCRIBE:
            return tokens.sign(secret, "unsubscribe", self.email)
        return tokens.sign_feedback(secret, self.email, self.paper_ids[k - 3])


def _stand_in_body(
    builder: Builder, reader: Subscriber, picks: list[Pick], strings: _Strings
) -> _Body | None:
    lengths = tuple(len(strings.value(k)) for k in range(strings.count))
    stand = splice.stand_ins(lengths)
    feedback = dict(zip([p.paper.id for p in picks], stand[3:], strict=True))
    someone = reader.model_copy(update={"email": stand[_EMAIL]})
    links = builder._links(stand[_PREFERENCES], builder._unsubscribe_url(stand[_UNSUBSCRIBE]))

    def real(html: str) -> str:  # a body that cannot be cut is not shared: its size does not matter
        pieces = splice.cut(html, stand, refs=True)
        return html if pieces is None else pieces.join([strings.value(k) for k in range(strings.count)])

    page = builder.feedback_page(stand[_EMAIL], feedback.__getitem__)
    rendered, kept = builder.fitted(someone, picks, links, page, real)
    html, text = splice.cut(rendered.html, stand, refs=True), splice.cut(rendered.text, stand)
    if html is None or text is None or not splice.clear(rendered.subject):
        return None
    return _Body(rendered.subject, html, text, kept, lengths)


def _remember(cache: OrderedDict, key: tuple, value: object) -> None:
    cache[key] = value
    if len(cache) > SHARED_BODIES:
        cache.popitem(last=False)
