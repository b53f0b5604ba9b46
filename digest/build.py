"""Assemble an issue once, then each reader's message from it.

    papers -> Issue (themes, once) -> Prepared (trending, tokens, once)
           -> per reader: picks -> sections -> View -> Rendered -> wire bytes

No network, files or clock here: the caller brings papers, the time and the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from . import rank, themes, tokens
from .config import Config
from .mail import Envelope, compose
from .models import Issue, Paper, Pick, Subscriber
from .render import Card, Links, Rendered, Renderer


def issue_id_for(now: datetime, tz: str) -> str:
    """An issue is a day in the newsletter's time zone."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def make_issue(papers: list[Paper], now: datetime, tz: str, taxonomy: list[themes.Topic]) -> Issue:
    local = now.astimezone(ZoneInfo(tz))
    return Issue(
        id=local.date().isoformat(),
        date=local.date(),
        papers=papers,
        themes=themes.group(papers, taxonomy),
        built_at=now,
    )


def options_from(config: Config) -> rank.Options:
    r = config.ranking
    return rank.Options(max_papers=r.max_papers, relevance_weight=r.relevance_weight, min_score=r.min_score)


@dataclass
class Message:
    reader: Subscriber | None
    picks: list[Pick]
    rendered: Rendered
    envelope: Envelope
    raw: bytes  # the composed message, ready for any backend


class Builder:
    """Everything shared by an issue's messages; `message(reader)` is the per-reader part."""

    def __init__(self, config: Config, issue: Issue, now: datetime, secret: str):
        self.config = config
        self.issue = issue
        self.now = now
        self.secret = secret
        self.options = options_from(config)
        self.prepared = rank.prepare(issue, now, self.options)
        self.renderer = Renderer(config.templates, thumbnails=config.newsletter.thumbnails)
        # Each paper's card is cleaned and rendered once per issue, then shared by every reader.
        self.cards: dict[str, Card] = {}

    def links(self, email: str) -> Links:
        base = self.config.newsletter.base_url
        return Links(
            web=f"{base}/issues/{self.issue.id}",
            preferences=f"{base}/preferences?token={tokens.sign(self.secret, 'preferences', email)}",
            unsubscribe=f"{base}/unsubscribe?token={tokens.sign(self.secret, 'unsubscribe', email)}",
            subscribe=f"{base}/subscribe",
        )

    def picks(self, reader: Subscriber, already_sent: frozenset[str] = frozenset()) -> list[Pick]:
        return rank.select(self.prepared, reader, self.options, already_sent)

    def message(self, reader: Subscriber, picks: list[Pick]) -> Message:
        news = self.config.newsletter
        links = self.links(reader.email)
        view = self.renderer.view(
            newsletter=news.name,
            address=news.address,
            issue_date=self.issue.date,
            reader=reader,
            sections=rank.sections(self.prepared, picks),
            links=links,
            cards=self.cards,
        )
        rendered = self.renderer.render(view)
        envelope = Envelope(
            sender=news.sender,
            to_email=reader.email,
            to_name=reader.name,
            issue_id=self.issue.id,
            list_name=news.name,
            unsubscribe_url=links.unsubscribe,
            reply_to=news.reply_to,
        )
        return Message(reader, picks, rendered, envelope, compose(rendered, envelope, self.now))
