"""The issue beyond email: a short post to a Slack or Discord incoming webhook or a Telegram
chat, with the issue's most trending papers and the link to its page in the web archive.

    channels:
      - kind: slack                 # the webhook URL from DIGEST_SLACK_WEBHOOK_URL
      - kind: discord               # DIGEST_DISCORD_WEBHOOK_URL
      - kind: telegram              # the bot token from DIGEST_TELEGRAM_BOT_TOKEN
        chat_id: "@trending_papers"

A webhook URL and a bot token are credentials (whoever has one can post as the newsletter),
so they come from the environment, as every secret does; a variable that is not set is a
usage error when the run starts, like a missing SMTP password.

Each channel gets one post per issue. The post is claimed in the send ledger like a reader's
message, under an address that cannot be a reader's (`slack-<hash>@channels.invalid`, the
hash of the webhook or the chat): a rerun, or another sender on the same database, finds it
sent and posts nothing. A post that fails is a warning: the email went out regardless, the
row is marked failed and the next run tries the post again. Posts go after the email, when
the issue's archive page exists for the link to open.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..compose.build import issue_url
from ..compose.mail import message_id
from ..compose.render import paper_url, safe_url
from ..errors import DigestError
from ..store import Claim
from ..util.clean import display

if TYPE_CHECKING:
    import httpx

    from ..compose.build import Builder
    from ..config import Channel, Config
    from ..store import Ledger, Run

TIMEOUT = 10.0  # seconds for one post: a slow chat service must not hold the send run
ANSWER_BYTES = 64_000  # of a chat service's answer, read: its status and a line of error say enough


@dataclass(frozen=True)
class Post:
    title: str  # "Trending Papers, Thursday 26 November 2026"
    papers: list[tuple[str, str]]  # (title, url), most trending first
    link: str  # the issue's page in the web archive


def post_for(config: Config, builder: Builder, count: int) -> Post:
    day = builder.issue.date
    # The email's title and link for each paper: cleaned, and the URL checked (render.safe_url).
    papers = [(display(p.title, strip_tags=False), paper_url(p)) for p in builder.by_trending()[:count]]
    return Post(
        f"{config.newsletter.name}, {day:%A} {day.day} {day:%B %Y}",
        papers,
        issue_url(config.newsletter.base_url, builder.issue.id),
    )


# --- each service's message -----------------------------------------------------------------
# Titles and URLs come from feeds: each body function escapes them for its own markup, and a
# URL is the email's (render.safe_url: absolute http(s), no spaces, quotes or angle brackets)
# with whatever else the markup reads inside a link percent-encoded, so a URL can neither end
# its link early nor start a mention or a link of its own.


def _link(url: str, markup: str) -> str | None:
    checked = safe_url(url)
    if checked is None:
        return None
    if not markup:
        return checked
    return re.sub(f"[{re.escape(markup)}]", lambda m: f"%{ord(m.group()):02X}", checked)


def slack_body(post: Post) -> dict:
    def esc(text: str) -> str:  # Slack's mrkdwn: only these three are special
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def link(url: str, label: str) -> str:  # `|` ends a Slack link's URL, `<>` the link
        checked = _link(url, "|<>")
        return f"<{esc(checked)}|{esc(label)}>" if checked else esc(label)

    lines = [f"*{esc(post.title)}*"]
    lines += [f"{n}. {link(url, title)}" for n, (title, url) in _numbered(post)]
    lines.append(link(post.link, "The whole issue"))
    return {"text": "\n".join(lines), "unfurl_links": False, "unfurl_media": False}


# Within a line (a title follows "1. "), these are all Discord's markdown reads as markup;
# `:` and `@` too, so a title's bare "https://..." is not made a link nor "@here" a mention.
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|<>\[\]():@])")


def discord_body(post: Post) -> dict:
    def esc(text: str) -> str:
        return _DISCORD_SPECIAL.sub(r"\\\1", text)

    def link(url: str, label: str) -> str:
        # <url> in a link keeps Discord from unfurling a preview card for each paper.
        checked = _link(url, "<>()[]`*_~|\\")
        return f"[{esc(label)}](<{checked}>)" if checked else esc(label)

    lines = [f"**{esc(post.title)}**"]
    lines += [f"{n}. {link(url, title)}" for n, (title, url) in _numbered(post)]
    lines.append(link(post.link, "The whole issue"))
    # Discord takes 2,000 characters; mentions in a title must never ping anyone.
    return {"content": _fit(lines, 2000), "allowed_mentions": {"parse": []}}


def telegram_body(post: Post, chat_id: str) -> dict:
    e = html.escape

    def link(url: str, label: str) -> str:
        checked = _link(url, "")
        return f'<a href="{e(checked)}">{e(label)}</a>' if checked else e(label)

    lines = [f"<b>{e(post.title)}</b>"]
    lines += [f"{n}. {link(url, title)}" for n, (title, url) in _numbered(post)]
    lines.append(link(post.link, "The whole issue"))
    return {
        "chat_id": chat_id,
        "text": _fit(lines, 4096),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


def _numbered(post: Post):
    return enumerate(post.papers, 1)


def _fit(lines: list[str], limit: int) -> str:
    """The lines, dropping papers from the end (never the title or the link) to fit `limit`."""
    while len("\n".join(lines)) > limit and len(lines) > 2:
        del lines[-2]
    return "\n".join(lines)[:limit]


# --- where each goes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str
    label: str  # "slack", "telegram @trending_papers": names the channel in warnings
    url: str  # where the post goes (carries the credential: never shown)
    body: dict
    key: str  # the ledger's address for this channel's posts

    def sent_ok(self, response: httpx.Response) -> str | None:
        """None when the service took the post, else what it said."""
        if self.kind == "telegram":
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if response.status_code == 200 and isinstance(answer, dict) and answer.get("ok") is True:
                return None
            description = answer.get("description", "") if isinstance(answer, dict) else ""
            return f"HTTP {response.status_code} {description or response.text[:200]}".strip()
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code} {' '.join(response.text.split())[:200]}".strip()


def secret(channel: Channel) -> str:
    name = channel.token_env if channel.kind == "telegram" else channel.url_env
    value = os.environ.get(name, "").strip()
    if not value:
        what = "the bot token" if channel.kind == "telegram" else "the incoming webhook URL"
        raise DigestError(
            f"channels: {channel.kind} needs {what} in {name}: set it, or remove the channel "
            "(it never goes in digest.yaml)"
        )
    return value


def check(config: Config) -> None:
    """Every channel's credential is in the environment, and a webhook URL is one: a usage
    error before anything is sent, not a warning after."""
    for channel in config.channels:
        value = secret(channel)
        if channel.kind != "telegram" and not re.match(r"https?://[^/\s]+/", value):
            raise DigestError(
                f"channels: {channel.url_env} does not hold a webhook URL (https://...); "
                f"copy the {channel.kind} incoming webhook's URL into it"
            )


def target(channel: Channel, post: Post) -> Target:
    value = secret(channel)
    if channel.kind == "telegram":
        where = f"{channel.api.rstrip('/')}/bot{value}/sendMessage"
        label, body, who = (
            f"telegram {channel.chat_id}",
            telegram_body(post, channel.chat_id),
            channel.chat_id,
        )
    elif channel.kind == "discord":
        where, label, body, who = value, "discord", discord_body(post), value
    else:
        where, label, body, who = value, "slack", slack_body(post), value
    digest = hashlib.sha256(f"{channel.kind}:{who}".encode()).hexdigest()[:16]
    return Target(channel.kind, label, where, body, f"{channel.kind}-{digest}@channels.invalid")


def publish(
    config: Config, builders: dict[str, Builder], ledger: Ledger, run: Run | None
) -> tuple[list[str], list[str]]:
    """Post each issue built this run to every channel that does not have it yet:
    (what was posted, warnings)."""
    posted: list[str] = []
    warnings: list[str] = []
    if not config.channels or not builders:
        return posted, warnings
    import httpx  # only a run that posts pays for it

    from ..sources.httpclient import USER_AGENT

    with httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}) as http:
        for issue_id, builder in sorted(builders.items()):
            for channel in config.channels:
                to = target(channel, post_for(config, builder, channel.papers))
                claim = ledger.claim(
                    issue_id,
                    to.key,
                    message_id(issue_id, to.key, config.newsletter.sender, builder.secret),
                    run,
                )
                if claim != Claim.CLAIMED:
                    continue
                problem = _send(http, to)
                if problem is None:
                    ledger.mark_sent(
                        issue_id, to.key, [p.id for p in builder.by_trending()[: channel.papers]]
                    )
                    posted.append(f"{to.label}: {issue_id}")
                else:
                    ledger.mark_failed(issue_id, to.key, problem)
                    warnings.append(
                        f"channel {to.label}: {issue_id} not posted ({problem}); next run tries again"
                    )
    return posted, warnings


def _send(http: httpx.Client, to: Target) -> str | None:
    import httpx

    from ..util import capped

    try:
        # A cut answer still has its status, which is what says whether the post was taken.
        response, _ = capped.post(http, to.url, ANSWER_BYTES, TIMEOUT, json=to.body)
    except httpx.HTTPError as exc:
        # The URL holds the credential: the error names the kind of failure, never the URL.
        return f"{type(exc).__name__}"
    return to.sent_ok(response)
