"""What comes back to the inbox (`inbox:` in digest.yaml), read by `digest inbox` from cron.

    bounces (RFC 3464 delivery reports)    a hard bounce (Action: failed, Status 5.x.x) marks
                                           the address bounced, as a 5xx at sending does
    complaints (RFC 5965 feedback reports)  the reader is unsubscribed: they said "spam"
    mail to address+unsubscribe             the sender is unsubscribed (List-Unsubscribe's
                                           mailto, which Apple Mail and others use)

Most bounces come back minutes or days after the server accepted the message, as reports
mailed to the envelope sender. Each reader's messages go out from their own address at the
inbox, bounces+<tag>@..., the tag an HMAC of their address (VERP, digest/tokens.py): a report
counts only if it came back to the tag of the address it reports, or if it quotes the
Message-ID of a message the ledger sent to that address. So nobody who does not know the
secret can mail a report that bounces somebody else. Soft bounces (4.x.x, "delayed") change
nothing: the next issue is the retry. Everything else is left for a person, unread.

Parsing is pure (`read`); the mailbox (IMAP or a Maildir) and the stores are the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

from . import tokens

BOUNCE, SOFT, COMPLAINT, UNSUBSCRIBE, OTHER = "bounce", "soft bounce", "complaint", "unsubscribe", "other"
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"\b([45]\d\d)\b")
# Where servers say which address a message was delivered to (the envelope, not the headers).
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True)
class Read:
    """What one message in the inbox is, and about whom."""

    kind: str  # BOUNCE, SOFT, COMPLAINT, UNSUBSCRIBE or OTHER
    email: str | None = None
    reason: str = ""
    code: int | None = None
    issue: str | None = None


# The ledger's answer to "which reader and issue was this Message-ID sent to?"
SentTo = Callable[[str], tuple[str, str] | None]


def read(raw: bytes, *, secret: str, address: str, sent_to: SentTo) -> list[Read]:
    """Every finding in one message: a report may name several recipients."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    kind = message.get_content_type()
    report = message.get_param("report-type", header="content-type") if kind == "multipart/report" else None
    delivered_to = _delivered_to(message)
    if report == "delivery-status":
        return list(_bounces(message, secret, delivered_to, sent_to))
    if report == "feedback-report":
        return [_complaint(message, secret, delivered_to, sent_to)]
    if tokens.plus_address(address, tokens.UNSUBSCRIBE_TAG).lower() in delivered_to:
        return [_unsubscribe(message)]
    return [Read(OTHER, reason=f"not a report digest reads: {_subject(message)}")]


def _delivered_to(message: Message) -> set[str]:
    found = set()
    for name in RECIPIENT_HEADERS:
        for _, addr in getaddresses([str(v) for v in message.get_all(name, [])]):
            if addr:
                found.add(addr.lower())
    return found


def _subject(message: Message) -> str:
    return " ".join(str(message.get("Subject", "(no subject)")).split())[:80]


def _trusted(
    email: str, secret: str, delivered_to: set[str], message_ids: set[str], sent_to: SentTo
) -> str | None:
    """The issue a report is about, "" if it cannot say, or None if it proves nothing about
    `email`: neither came back to its VERP address nor quotes a message sent to it."""
    tag = tokens.verp_tag(secret, email)
    vouched = any(tokens.tag_of(addr) == tag for addr in delivered_to)
    for message_id in message_ids:
        found = sent_to(message_id)
        if found is not None and found[0] == email.lower():
            return found[1]
    return "" if vouched else None


def _returned_ids(message: Message) -> set[str]:
    """Message-IDs of the original message a report quotes (text/rfc822-headers or
    message/rfc822)."""
    ids = set()
    for part in message.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822", "message/rfc822-headers"):
            for quoted in _quoted(part):
                if quoted.get("Message-ID"):
                    ids.add(str(quoted["Message-ID"]).strip())
    return ids


def _quoted(part: Message) -> list[Message]:
    """The message (or its headers) a report part quotes: message/rfc822 holds it parsed,
    the header-only kinds as bytes."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        return [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
    raw = part.get_payload(decode=True)
    return [message_from_bytes(raw, policy=policy.default)] if isinstance(raw, bytes) else []


def _field_groups(message: Message, kind: str) -> list[Message]:
    """The per-recipient field groups of a message/delivery-status part (or the fields of
    a feedback report), each as a Message of headers."""
    for part in message.walk():
        if part.get_content_type() == kind:
            payload = part.get_payload()
            if isinstance(payload, list):  # the email package parses delivery-status into groups
                return [p for p in payload if isinstance(p, Message)]
            if isinstance(payload, str):
                groups = [g for g in re.split(r"\r?\n\s*\r?\n", payload.strip()) if g.strip()]
                return [message_from_bytes(g.encode(), policy=policy.compat32) for g in groups]
    return []


def _address_field(value: object) -> str | None:
    """`rfc822; ada@example.org` -> ada@example.org."""
    text = str(value or "").strip()
    if ";" in text:
        kind, _, text = text.partition(";")
        if kind.strip().lower() != "rfc822":
            return None
    addr = parseaddr(text.strip())[1]
    return addr.lower() if "@" in addr else None


def _bounces(message: Message, secret: str, delivered_to: set[str], sent_to: SentTo) -> Iterator[Read]:
    returned = _returned_ids(message)
    groups = _field_groups(message, "message/delivery-status")
    for group in groups[1:] if len(groups) > 1 else groups:  # the first group is the reporting MTA's
        email = _address_field(group.get("Final-Recipient")) or _address_field(
            group.get("Original-Recipient")
        )
        if email is None:
            continue
        action = str(group.get("Action", "")).strip().lower()
        status = _STATUS.search(str(group.get("Status", "")))
        diagnostic = " ".join(str(group.get("Diagnostic-Code", "")).split())
        reason = (
            diagnostic.partition(";")[2].strip()
            or diagnostic
            or f"status {status.group(0) if status else '?'}"
        )
        code = int(m.group(1)) if (m := _CODE.search(diagnostic)) else None
        if action != "failed" or status is None or status.group(1) != "5":
            yield Read(SOFT, email, reason, code)
            continue
        issue = _trusted(email, secret, delivered_to, returned, sent_to)
        if issue is None:
            yield Read(
                OTHER, email, f"a report of a bounce that did not come back to {email}'s address: left alone"
            )
            continue
        yield Read(BOUNCE, email, f"{status.group(0)} {reason}".strip(), code, issue or None)


def _complaint(message: Message, secret: str, delivered_to: set[str], sent_to: SentTo) -> Read:
    groups = _field_groups(message, "message/feedback-report")
    fields = groups[0] if groups else Message()
    email = _address_field(fields.get("Original-Rcpt-To"))
    returned = _returned_ids(message)
    if email is None:  # the quoted message's To
        for part in message.walk():
            if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
                quoted = _quoted(part)
                email = _address_field(parseaddr(str(quoted[0].get("To", "")))[1]) if quoted else None
                break
    if email is None:
        return Read(OTHER, reason="a complaint that names no recipient")
    if _trusted(email, secret, delivered_to, returned, sent_to) is None:
        return Read(OTHER, email, f"a complaint about mail digest did not send to {email}: left alone")
    feedback = str(fields.get("Feedback-Type", "abuse")).strip()
    return Read(COMPLAINT, email, f"complaint ({feedback}) from the mailbox provider")


def _unsubscribe(message: Message) -> Read:
    if str(message.get("Auto-Submitted", "no")).strip().lower() != "no":
        return Read(OTHER, reason="an automatic reply to the unsubscribe address")
    email = parseaddr(str(message.get("Reply-To") or message.get("From") or ""))[1].lower()
    if "@" not in email:
        return Read(OTHER, reason="an unsubscribe request without a From address")
    return Read(UNSUBSCRIBE, email, "asked by mail (List-Unsubscribe mailto)")


def summary(found: Iterable[Read]) -> dict[str, int]:
    counts = {BOUNCE: 0, COMPLAINT: 0, UNSUBSCRIBE: 0, SOFT: 0, OTHER: 0}
    for r in found:
        counts[r.kind] += 1
    return counts
