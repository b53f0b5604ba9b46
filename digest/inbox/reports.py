"""What comes back to the inbox (`inbox:` in digest.yaml), read by `digest inbox` from cron.

    bounces (RFC 3464 delivery reports)    a hard bounce (Action: failed, Status 5.x.x) marks
                                           the address bounced, as a 5xx at sending does
    complaints (RFC 5965 feedback reports)  the reader is unsubscribed: they said "spam"
    mail to address+unsubscribe-<tag>       the sender is unsubscribed (List-Unsubscribe's
                                           mailto, which Apple Mail and others use)

Most bounces come back minutes or days after the server accepted the message, as reports
mailed to the envelope sender. What the inbox acts on carries a keyed tag (digest/compose/tokens.py),
an HMAC under DIGEST_SECRET checked in constant time, so nobody who does not know the secret
can mail a report or a request that bounces or unsubscribes somebody else:

- each reader's messages go out from their own address at the inbox, bounces+<tag>@...
  (VERP), and carry a Message-ID with a tag of the (issue, reader): a report counts only if it
  came back to the VERP address of the reader it reports, or quotes a Message-ID made for that
  reader. A Message-ID of the old, unkeyed form (before issue 23) proves nothing: anyone could
  compute it. Reports of those messages count when they come back to the VERP address (whose
  tag was keyed already), and are otherwise left for a person;
- the List-Unsubscribe mailto is the reader's own, bounces+unsubscribe-<tag>@...: a request
  counts only if it was mailed to the tagged address of the address it comes from (From or
  Reply-To). The old untagged bounces+unsubscribe@ is left for a person.

Soft bounces (4.x.x, "delayed") change nothing: the next issue is the retry. Everything else is
left for a person, unread.

Whatever comes in is bounded before it is parsed (`MAX_BYTES`, `MAX_PARTS`): a message over
them, or one the email package cannot parse, raises `Unreadable`, and `digest inbox` sets it
aside on its own (digest/jobs/bounces.py).

Parsing is pure (`read`); the mailbox (IMAP or a Maildir) and the stores are the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from enum import StrEnum

from ..compose import tokens


class Kind(StrEnum):
    """What a message in the inbox is, and so what `digest inbox` does with it."""

    BOUNCE = "bounce"  # a hard bounce: the address is marked bounced
    SOFT = "soft bounce"  # a temporary failure (4.x.x): counted, the address left as it is
    COMPLAINT = "complaint"  # the reader reported spam: unsubscribed
    UNSUBSCRIBE = "unsubscribe"  # mailed to the List-Unsubscribe address
    OTHER = "other"  # nothing to do


BOUNCE, SOFT, COMPLAINT, UNSUBSCRIBE, OTHER = (
    Kind.BOUNCE,
    Kind.SOFT,
    Kind.COMPLAINT,
    Kind.UNSUBSCRIBE,
    Kind.OTHER,
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"\b([45]\d\d)\b")
# Where servers say which address a message was delivered to (the envelope, not the headers).
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True)
class Read:
    """What one message in the inbox is, and about whom."""

    kind: Kind
    email: str | None = None
    reason: str = ""
    code: int | None = None
    issue: str | None = None


# A report with the whole returned digest is 150-300 KB; 1 MB leaves room for any genuine one
# and bounds the time a hostile one takes (reading a 1 MB address list takes about a second).
MAX_BYTES = 1024 * 1024
# Every nested part declares a Content-Type: a report has 3 to 10, a returned digest a few
# more. Counting them before the parse bounds its depth and breadth: the email package parses
# nested parts by recursion, and 1,000 of them raise RecursionError.
MAX_PARTS = 100


class Unreadable(Exception):
    """A message `digest inbox` will not parse: too large, too many parts, or malformed."""


def parse(raw: bytes) -> Message:
    """`raw` parsed, once it is known to be within MAX_BYTES and MAX_PARTS (linear checks).
    Headers stay as they came (compat32): the structured header parser of policy.default is
    quadratic in an address list (20,000 addresses in one To: took 5 s, 500,000 never ended),
    and the addresses are read with email.utils, which is linear."""
    if len(raw) > MAX_BYTES:
        raise Unreadable(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    parts = raw.lower().count(b"content-type")
    if parts > MAX_PARTS:
        raise Unreadable(f"{parts} parts (at most {MAX_PARTS})")
    try:
        return message_from_bytes(raw, policy=policy.compat32)
    except (RecursionError, LookupError, ValueError) as exc:
        raise Unreadable(f"malformed ({type(exc).__name__})") from None


def raw_subject(raw: bytes) -> str:
    """The Subject of a message without parsing it (for one set aside): the first Subject line
    of its header block, so a person can find it."""
    head = raw[: raw.find(b"\r\n\r\n") if b"\r\n\r\n" in raw[:65536] else 65536]
    found = re.search(rb"^subject:[ \t]*([^\r\n]{0,200})", head, re.IGNORECASE | re.MULTILINE)
    text = found.group(1).decode("ascii", "replace") if found else ""
    text = "".join(c if c.isprintable() else " " for c in text)  # no escape sequences on a terminal
    return " ".join(text.split())[:80] or "(no subject)"


def read(raw: bytes, *, secret: str, address: str) -> list[Read]:
    """Every finding in one message: a report may name several recipients. `address` is the
    inbox's (inbox.address); raises Unreadable for a message it will not parse."""
    message = parse(raw)
    kind = message.get_content_type()
    report = message.get_param("report-type", header="content-type") if kind == "multipart/report" else None
    delivered_to = _delivered_to(message)
    if report == "delivery-status":
        return list(_bounces(message, secret, address, delivered_to))
    if report == "feedback-report":
        return [_complaint(message, secret, address, delivered_to)]
    unsubscribe_tags = [
        tag
        for addr in delivered_to
        if (tag := tokens.tag_at(addr, address)) is not None
        and tag.partition("-")[0] == tokens.UNSUBSCRIBE_TAG
    ]
    if unsubscribe_tags:
        return [_unsubscribe(message, secret, unsubscribe_tags)]
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
    email: str, secret: str, address: str, delivered_to: set[str], message_ids: set[str]
) -> str | None:
    """The issue a report is about, "" if it cannot say, or None if it proves nothing about
    `email`: it neither came back to its VERP address nor quotes a Message-ID made for it."""
    for message_id in message_ids:
        local = message_id.strip().strip("<>").rpartition("@")[0]
        issue, _, tag = local.rpartition(".")
        if issue and tokens.same_tag(tokens.message_tag(secret, issue, email), tag):
            return issue
    verp = tokens.verp_tag(secret, email)
    tags = (tokens.tag_at(addr, address) for addr in delivered_to)
    return "" if any(tag is not None and tokens.same_tag(verp, tag) for tag in tags) else None


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
    the header-only kinds as bytes, of which only the headers are parsed (what they hold
    decoded was not counted by `parse`)."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        return [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
    raw = part.get_payload(decode=True)
    return [BytesHeaderParser(policy=policy.compat32).parsebytes(raw)] if isinstance(raw, bytes) else []


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


def _bounces(message: Message, secret: str, address: str, delivered_to: set[str]) -> Iterator[Read]:
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
        issue = _trusted(email, secret, address, delivered_to, returned)
        if issue is None:
            yield Read(
                OTHER,
                email,
                f"a report of a bounce that did not come back to {email}'s address and quotes no "
                "Message-ID digest made for it: left alone",
            )
            continue
        yield Read(BOUNCE, email, f"{status.group(0)} {reason}".strip(), code, issue or None)


def _complaint(message: Message, secret: str, address: str, delivered_to: set[str]) -> Read:
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
    if _trusted(email, secret, address, delivered_to, returned) is None:
        return Read(OTHER, email, f"a complaint about mail digest did not send to {email}: left alone")
    feedback = str(fields.get("Feedback-Type", "abuse")).strip()
    return Read(COMPLAINT, email, f"complaint ({feedback}) from the mailbox provider")


def _unsubscribe(message: Message, secret: str, tags: list[str]) -> Read:
    """A mailed request counts for the address it comes from only if it went to that
    address's own tagged mailto: a forged From proves nothing without the tag."""
    if str(message.get("Auto-Submitted", "no")).strip().lower() != "no":
        return Read(OTHER, reason="an automatic reply to the unsubscribe address")
    senders = [parseaddr(str(message.get(name) or ""))[1].lower() for name in ("From", "Reply-To")]
    senders = [email for email in senders if "@" in email]
    if not senders:
        return Read(OTHER, reason="an unsubscribe request without a From address")
    given = [tag.partition("-")[2] for tag in tags]
    for email in senders:
        expected = tokens.unsubscribe_tag(secret, email)
        if any(tokens.same_tag(expected, tag) for tag in given if tag):
            return Read(UNSUBSCRIBE, email, "asked by mail (List-Unsubscribe mailto)")
    if not any(given):
        return Read(
            OTHER,
            senders[0],
            "an unsubscribe request to the untagged address of mail sent before the mailto carried "
            "the reader's tag: left for a person (the link in any issue unsubscribes at once)",
        )
    return Read(
        OTHER, senders[0], f"an unsubscribe request to an address that is not {senders[0]}'s own: left alone"
    )


def summary(found: Iterable[Read]) -> dict[Kind, int]:
    counts = {BOUNCE: 0, COMPLAINT: 0, UNSUBSCRIBE: 0, SOFT: 0, OTHER: 0}
    for r in found:
        counts[r.kind] += 1
    return counts
