"""What a subscriber entry may say, and the one place its status changes.

Every store (digest/store/: the hand-edited YAML list, the database table) reads and writes
entries through these rules, so the web form, the CLI, an import and a bounce all follow the
same life cycle:

    (new) --sign-up--> pending --confirm--> active --unsubscribe--> unsubscribed
                                              |  <--confirm (a link asked for after leaving)--
                                              +--bounce--> bounced --clear (the owner)--> active

- A sign-up is a request from whoever typed the address: it can create a pending entry, never
  change an existing one. A stranger cannot reactivate a bounced or unsubscribed reader, or
  rewrite a pending reader's preferences.
- A confirmation link works once it is opened by the owner of the address, and only if it was
  asked for after their latest unsubscribe: an old link does not resubscribe someone who left.
- The list owner (`digest subscribe --confirmed`, an import) vouches for consent, but cannot
  resurrect an address that unsubscribed or bounced; the reader rejoins by confirming, the
  owner clears a bounce explicitly.

Pure: the clock is passed in; nothing here reads or writes a file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import DigestError
from ..models import Subscriber, normalized_address, zone_context

if TYPE_CHECKING:
    from ..config import Config

# The names a reader may follow in `topics`, casefolded -> theme key (see known_topics).
Topics = Mapping[str, str]
# Fields a reader (preferences page) or the list owner may set; status and dates follow the rules.
PREFERENCES = ("name", "frequency", "send_at", "timezone", "topics", "keywords", "authors", "categories",
               "organizations", "exclude", "max_papers", "library")  # fmt: skip
STATUSES = ("pending", "active", "unsubscribed", "bounced")


class NotListed(DigestError):
    """The address a change was meant for is not on the list."""


# --- topics ----------------------------------------------------------------------------------


def known_topics(config: Config | None = None) -> Topics:
    """Names a reader may use in `topics`: every theme key and label (casefolded) -> key, of
    the field packs and custom themes `config` asks for, else the default pack's."""
    if config is None or (not config.themes.custom and list(config.themes.packs) == ["ml"]):
        return _built_in_topics()
    from ..issue.themes import configured

    return _names(configured(config.themes))


@functools.cache  # the built-in taxonomy does not change while the process runs
def _built_in_topics() -> Topics:
    from ..issue.themes import load_taxonomy

    return _names(load_taxonomy())


def _names(taxonomy: list) -> Topics:
    names = {}
    for topic in taxonomy:
        names[topic.key.casefold()] = topic.key
        names[topic.label.casefold()] = topic.key
    return names


def unknown_topics(topics: list[str], known: Topics | None = None) -> str | None:
    """A problem line if any of `topics` is not a theme key or label, else None."""
    known = _built_in_topics() if known is None else known
    strangers = [t for t in topics if t.casefold() not in known]
    if not strangers:
        return None
    keys = ", ".join(sorted(set(known.values())))
    return f"unknown topic(s) {', '.join(map(repr, strangers))}; use a theme key or label: {keys}"


# --- entries ---------------------------------------------------------------------------------


def address_key(email: str) -> str:
    """How an address is looked up: lower case, its domain in Unicode, so an internationalised
    domain typed as xn--... or in decomposed form finds the same entry."""
    from email_validator import EmailNotValidError

    try:
        return normalized_address(email).lower()
    except EmailNotValidError:
        return email.strip().lower()


def validated(fields: dict[str, Any], topics: Topics | None = None, zone: str | None = None) -> Subscriber:
    """An entry as the model reads it, or a DigestError naming each bad field. `zone`: the
    newsletter's, for an entry without `timezone`."""
    try:
        subscriber = Subscriber.model_validate(fields, context=zone_context(zone) if zone else None)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            name = ".".join(str(p) for p in err["loc"]) or "entry"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg}")
        raise DigestError(problems) from None
    if topics is not None and (problem := unknown_topics(subscriber.topics, topics)):
        raise DigestError(f"topics: {problem}")
    return subscriber


class Outcome(StrEnum):
    ADDED = "added"  # a new entry, active (the owner vouched) or as the import says
    PENDING = "pending"  # waiting for the confirmation link: mail it (again)
    ACTIVATED = "activated"
    ALREADY_ACTIVE = "already active"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    UNSUBSCRIBED = "unsubscribed"
    ALREADY_UNSUBSCRIBED = "already unsubscribed"
    BOUNCED = "bounced"
    CLEARED = "cleared"
    REFUSED = "refused"  # the rules do not allow it; `reason` says why and what to do
    STALE = "stale link"  # a confirmation link from before the reader left
    NOT_LISTED = "not listed"


@dataclass(frozen=True)
class Change:
    """One address before and after a change (`before` is None for a new entry)."""

    before: Subscriber | None
    after: Subscriber | None
    outcome: Outcome = Outcome.UPDATED
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after


# --- events: what can happen to an entry ------------------------------------------------------


@dataclass(frozen=True)
class SignUp:
    """Someone asked for the digest for this address (the web form, `digest subscribe`).
    `trusted`: the list owner at the CLI, whose preferences may update an existing entry."""

    prefs: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    trusted: bool = False


@dataclass(frozen=True)
class OwnerAdd:
    """`digest subscribe --confirmed`: the list owner has the reader's consent."""

    prefs: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirm:
    """The confirmation link, asked for at `requested`, was opened."""

    requested: datetime


@dataclass(frozen=True)
class Update:
    """New preferences from the reader's own (signed) preferences page."""

    prefs: dict[str, Any]


@dataclass(frozen=True)
class Unsubscribe:
    pass


@dataclass(frozen=True)
class Bounce:
    pass


@dataclass(frozen=True)
class ClearBounce:
    pass


@dataclass(frozen=True)
class Import:
    """An entry from a list the owner imports: the fields it gives replace ours."""

    fields: dict[str, Any]


Event = SignUp | OwnerAdd | Confirm | Update | Unsubscribe | Bounce | ClearBounce | Import


@dataclass(frozen=True)
class Decision:
    """What to do with one entry: `fields` to set (all of them for a new entry; empty: write
    nothing) and the outcome to report."""

    outcome: Outcome
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def writes(self, current: Subscriber | None) -> bool:
        """Whether the store has anything to write: changed fields, or a new entry."""
        return bool(self.fields) or (current is None and self.outcome is not Outcome.NOT_LISTED)


def decide(current: Subscriber | None, event: Event, now: datetime) -> Decision:
    """The rules, in one place. `current` is the entry as stored (None: not on the list)."""
    if isinstance(event, SignUp | OwnerAdd) and current is None:
        active = isinstance(event, OwnerAdd)
        fields = {**event.defaults, **_set(event.prefs), "created": now, "status": "pending"}
        if active:
            fields.update(status="active", confirmed=now)
        return Decision(Outcome.ACTIVATED if active else Outcome.PENDING, fields)
    if isinstance(event, Import):
        return _import(current, event.fields, now)
    if current is None:
        return Decision(Outcome.NOT_LISTED, reason="not on the list")
    status = current.status

    if isinstance(event, SignUp):
        if status == "bounced":
            return Decision(Outcome.REFUSED, reason=_BOUNCED)
        prefs = _changed(current, event.prefs) if event.trusted else {}
        if status == "active":
            return Decision(Outcome.UPDATED if prefs else Outcome.ALREADY_ACTIVE, prefs)
        return Decision(Outcome.PENDING, prefs)  # pending, or unsubscribed and asking to rejoin
    if isinstance(event, OwnerAdd):
        if status == "bounced":
            return Decision(Outcome.REFUSED, reason=_BOUNCED)
        if status == "unsubscribed":
            return Decision(Outcome.REFUSED, reason=_LEFT.format(when=_day(current.unsubscribed)))
        prefs = _changed(current, event.prefs)
        if status == "pending":
            return Decision(Outcome.ACTIVATED, {**prefs, "status": "active", "confirmed": now})
        return Decision(Outcome.UPDATED if prefs else Outcome.ALREADY_ACTIVE, prefs)
    if isinstance(event, Confirm):
        left = _utc(current.unsubscribed)
        if status == "active":
            return Decision(Outcome.ALREADY_ACTIVE)
        if status == "bounced":
            return Decision(Outcome.REFUSED, reason=_BOUNCED)
        # Dates are kept to the second: a link asked for in the second they left counts as old
        # (nobody leaves and asks again within a second).
        if left is not None and _utc(event.requested).replace(microsecond=0) <= left.replace(microsecond=0):
            return Decision(Outcome.STALE, reason="the link was asked for before the address unsubscribed")
        return Decision(Outcome.ACTIVATED, {"status": "active", "confirmed": now})
    if isinstance(event, Update):
        prefs = _changed(current, event.prefs)
        return Decision(Outcome.UPDATED if prefs else Outcome.UNCHANGED, prefs)
    if isinstance(event, Unsubscribe):
        if status == "unsubscribed":
            return Decision(Outcome.ALREADY_UNSUBSCRIBED)
        return Decision(Outcome.UNSUBSCRIBED, {"status": "unsubscribed", "unsubscribed": now})
    if isinstance(event, Bounce):
        if status in ("active", "pending"):
            return Decision(Outcome.BOUNCED, {"status": "bounced"})
        return Decision(Outcome.UNCHANGED)
    if isinstance(event, ClearBounce):
        if status == "bounced":
            return Decision(Outcome.CLEARED, {"status": "active"})
        return Decision(Outcome.UNCHANGED)
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover


_BOUNCED = (
    "the address bounced: no mail goes to it until the list owner clears it "
    "(`digest bounces --clear ADDRESS`)"
)
_LEFT = (
    "the address unsubscribed{when}: only its owner can rejoin, by confirming a new link "
    "(`digest subscribe ADDRESS` without --confirmed sends one)"
)


def _import(current: Subscriber | None, given: dict[str, Any], now: datetime) -> Decision:
    if current is None:
        return Decision(Outcome.ADDED, dict(given))
    fields = _changed(current, {k: v for k, v in given.items() if k != "email"})
    wanted = fields.pop("status", None)
    reason = ""
    if wanted in ("unsubscribed", "bounced"):  # the old tool's opt-out or bounce is honoured
        fields["status"] = wanted
        if wanted == "unsubscribed" and "unsubscribed" not in given:
            fields["unsubscribed"] = current.unsubscribed or now
    elif wanted == "active" and current.status == "pending":  # the old tool had their consent
        fields.update(status="active", confirmed=given.get("confirmed") or current.confirmed or now)
    elif wanted is not None and current.status in ("unsubscribed", "bounced"):
        reason = f"kept {current.status}: an import does not resubscribe an address that left"
    # (an active entry the file calls pending stays active: it confirmed here)
    return Decision(Outcome.UPDATED if fields else Outcome.UNCHANGED, fields, reason)


def _set(prefs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prefs.items() if v is not None}


def _changed(current: Subscriber, prefs: dict[str, Any]) -> dict[str, Any]:
    """The preferences that differ from the entry's (None and [] clear a field)."""
    out = {}
    for key, value in prefs.items():
        have = getattr(current, key, None)
        if key in ("created", "confirmed", "unsubscribed"):
            have, value = _utc(have), _utc(value)
        if (value in (None, []) and have in (None, [])) or value == have:
            continue
        out[key] = value
    return out


def _utc(moment: Any) -> Any:
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _day(moment: datetime | None) -> str:
    return f" on {moment:%Y-%m-%d}" if moment else ""


def after(
    current: Subscriber | None, email: str, decision: Decision, topics: Topics | None, zone: str | None = None
) -> Subscriber:
    """The entry once `decision` is applied: validated, or a DigestError naming each bad field
    (nothing is written then)."""
    base = current.model_dump(exclude_none=True) if current is not None else {}
    merged = {**base, **decision.fields, "email": current.email if current is not None else email}
    merged = {k: v for k, v in merged.items() if v is not None and v != []}
    return validated(merged, topics, zone)
