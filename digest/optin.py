"""Double opt-in: a pending entry and a confirmation email; the signed link makes it active.

Shared by `digest subscribe` and the web form. Nobody receives a digest until the owner of
the address has clicked the link (or the list owner added them with `--confirmed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import mail, tokens
from .config import Config
from .delivery import open_backend
from .due import describe
from .errors import DigestError
from .mail import Envelope
from .models import Rendered, Subscriber
from .store import SubscriberStore
from .subscribers import Confirm, NotListed, Outcome, OwnerAdd, SignUp, unknown_topics
from .subscribers import known_topics as listed_topics
from .tokens import LinkProblem

PURPOSE = "confirm"
# The file:// backend files confirmations under outbox/confirmations/<address>.eml.
OUTBOX_FOLDER = "confirmations"


@dataclass(frozen=True)
class Requested:
    """What a subscription request did. The web answers the same page whatever this says."""

    subscriber: Subscriber | None
    outcome: Outcome  # PENDING: a confirmation went to `delivered_to`
    delivered_to: str | None = None
    reason: str = ""  # why the rules refused it (Outcome.REFUSED)


def defaults(config: Config) -> dict[str, Any]:
    """What a new entry gets for the fields the person left out."""
    return {"timezone": config.newsletter.timezone}


def confirm_url(config: Config, secret: str, email: str, now: datetime) -> str:
    expires = now + timedelta(hours=config.web.confirm_hours)
    token = tokens.sign_expiring(secret, PURPOSE, email, expires, issued=now)
    return f"{config.newsletter.base_url}/confirm?token={token}"


def request(
    config: Config,
    listed: SubscriberStore,
    email: str,
    prefs: dict[str, Any],
    *,
    now: datetime,
    secret: str,
    confirmed: bool = False,
    trusted: bool = False,
) -> Requested:
    """Ask for the digest for `email`: a new or still unconfirmed address gets the
    confirmation link by email; with `confirmed` it is active at once (the list owner
    vouches for it). What an existing entry allows is the rules' call (digest/subscribers.py):
    a stranger typing someone's address into the web form changes nothing; `trusted` (the
    list owner, from the CLI) may update an entry's preferences.
    """
    if problem := unknown_topics(prefs.get("topics") or [], listed_topics(config)):
        raise DigestError(f"topics: {problem}")
    event = (
        OwnerAdd(prefs, defaults(config)) if confirmed else SignUp(prefs, defaults(config), trusted=trusted)
    )
    change = listed.apply(email, event, now=now)
    reader = change.after or change.before
    if change.outcome is Outcome.PENDING and reader is not None:
        where = send_confirmation(config, reader, now=now, secret=secret)
        return Requested(reader, change.outcome, where)
    return Requested(reader, change.outcome, reason=change.reason)


def send_confirmation(config: Config, reader: Subscriber, *, now: datetime, secret: str) -> str:
    """Compose the confirmation email and hand it to the configured delivery backend."""
    news = config.newsletter
    envelope = Envelope(
        sender=news.sender,
        to_email=reader.email,
        to_name=reader.name,
        issue_id=OUTBOX_FOLDER,
        list_name=news.name,
        unsubscribe_url="",
        reply_to=news.reply_to,
        notice=True,
    )
    context = {
        "newsletter": news.name,
        "address": news.address,
        "reader": reader,
        "confirm_url": confirm_url(config, secret, reader.email, now),
        "hours": config.web.confirm_hours,
        "when": describe(reader),
    }
    backend = open_backend(config.delivery, config.root)
    try:
        return backend.deliver(compose(config, envelope, context, now), envelope)
    finally:
        backend.close()


def compose(config: Config, envelope: Envelope, context: dict[str, Any], now: datetime) -> bytes:
    """The confirmation: a notice (no List-Unsubscribe: this is not list mail, and the address
    is not on the list until it confirms), composed as every message is, by mail.compose."""
    from .templating import environment

    text = environment(config.templates, autoescape=False).get_template("confirm.txt.j2").render(context)
    html = environment(config.templates).get_template("confirm.html.j2").render(context)
    subject = f"Confirm your subscription to {envelope.list_name}"
    return mail.compose(Rendered(subject=subject, html=html, text=text), envelope, now)


@dataclass(frozen=True)
class Confirmed:
    subscriber: Subscriber | None
    problem: LinkProblem | None = None


def confirm(config: Config, listed: SubscriberStore, token: str, *, now: datetime, secret: str) -> Confirmed:
    """Activate the address a confirmation token was made for. A forged, altered or expired
    token, an address no longer on the list, or a link asked for before the reader
    unsubscribed changes nothing."""
    verified = tokens.verify_expiring(secret, PURPOSE, token, now)
    if verified.email is None:
        return Confirmed(None, verified.problem)
    requested = verified.issued
    if requested is None:  # a link from before tokens said when they were made
        assert verified.expires is not None
        requested = verified.expires - timedelta(hours=config.web.confirm_hours)
    try:
        change = listed.apply(verified.email, Confirm(requested), now=now)
    except NotListed:
        return Confirmed(None, LinkProblem.UNKNOWN)
    if change.outcome in (Outcome.ACTIVATED, Outcome.ALREADY_ACTIVE):
        return Confirmed(change.after)
    return Confirmed(None, LinkProblem.STALE if change.outcome is Outcome.STALE else LinkProblem.REFUSED)
