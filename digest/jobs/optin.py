"""Double opt-in: a pending entry and a confirmation email; the signed link makes it active.

Shared by `digest subscribe` and the web form. Nobody receives a digest until the owner of
the address has clicked the link (or the list owner added them with `--confirmed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..compose import mail, tokens
from ..compose.mail import Envelope
from ..compose.tokens import LinkProblem
from ..config import Config
from ..delivery.backends import open_backend
from ..errors import DigestError
from ..models import Rendered, Subscriber
from ..readers.due import describe
from ..readers.subscribers import Confirm, NotListed, Outcome, OwnerAdd, SignUp, unknown_topics
from ..readers.subscribers import known_topics as listed_topics
from ..store import SubscriberStore

PURPOSE = "confirm"
# The file:// backend files confirmations under outbox/confirmations/<address>.eml, and the
# preferences link an active reader gets for signing up again under outbox/preferences/.
OUTBOX_FOLDER = "confirmations"
PREFERENCES_FOLDER = "preferences"


@dataclass(frozen=True)
class Requested:
    """What a subscription request did. The web answers the same page whatever this says."""

    subscriber: Subscriber | None
    # PENDING: a confirmation went to `delivered_to`; ALREADY_ACTIVE: their preferences link may have
    outcome: Outcome
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
    vouches for it). What an existing entry allows is the rules' call (digest/readers/subscribers.py):
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
    if change.outcome is Outcome.ALREADY_ACTIVE and not trusted and reader is not None:
        # A reader signing up again mostly wants other topics: the link that changes them goes
        # to the address, never to the page, so the form still tells nobody who is listed.
        where = send_preferences_link(config, reader, now=now, secret=secret)
        return Requested(reader, change.outcome, where)
    return Requested(reader, change.outcome, reason=change.reason)


def send_confirmation(config: Config, reader: Subscriber, *, now: datetime, secret: str) -> str:
    """Compose the confirmation email and hand it to the configured delivery backend."""
    context = {
        "confirm_url": confirm_url(config, secret, reader.email, now),
        "hours": config.web.confirm_hours,
    }
    subject = f"Confirm your subscription to {config.newsletter.name}"
    return _send_notice(config, reader, "confirm", OUTBOX_FOLDER, subject, context, now)


def send_preferences_link(config: Config, reader: Subscriber, *, now: datetime, secret: str) -> str:
    """Mail an active reader who signed up again the link to their preferences page."""
    token = tokens.sign(secret, "preferences", reader.email)
    context = {"preferences_url": f"{config.newsletter.base_url}/preferences?token={token}"}
    subject = f"Your {config.newsletter.name} preferences"
    return _send_notice(config, reader, "preferences_link", PREFERENCES_FOLDER, subject, context, now)


def _send_notice(
    config: Config,
    reader: Subscriber,
    template: str,
    folder: str,
    subject: str,
    extra: dict[str, Any],
    now: datetime,
) -> str:
    news = config.newsletter
    envelope = Envelope(
        sender=news.sender,
        to_email=reader.email,
        to_name=reader.name,
        issue_id=folder,
        list_name=news.name,
        unsubscribe_url="",
        reply_to=news.reply_to,
        notice=True,
    )
    context = {
        "newsletter": news.name,
        "address": news.address,
        "reader": reader,
        "when": describe(reader),
        **extra,
    }
    backend = open_backend(config.delivery, config.root)
    try:
        return backend.deliver(compose(config, envelope, context, now, template, subject), envelope)
    finally:
        backend.close()


def compose(
    config: Config,
    envelope: Envelope,
    context: dict[str, Any],
    now: datetime,
    template: str = "confirm",
    subject: str | None = None,
) -> bytes:
    """A notice such as the confirmation (no List-Unsubscribe: this is not list mail, and a
    new address is not on the list until it confirms), composed as every message is, by
    mail.compose, from `<template>.txt.j2` and `<template>.html.j2`."""
    from ..compose.templating import environment, load

    text = load(environment(config.templates, autoescape=False), f"{template}.txt.j2").render(context)
    html = load(environment(config.templates), f"{template}.html.j2").render(context)
    subject = subject or f"Confirm your subscription to {envelope.list_name}"
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
