"""MIME composition: a rendered digest and its envelope become the bytes that go on the wire.

Every header value is flattened to one line first: a CR or LF from a feed must never start a
header of its own; and no header is folded. Delivery is digest/delivery/backends.py.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from email_validator import EmailNotValidError, validate_email

from ..models import Rendered, one_line, safe_text
from . import tokens


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and the headers that tie it to one issue."""

    sender: str
    to_email: str
    to_name: str | None
    issue_id: str
    list_name: str
    unsubscribe_url: str
    reply_to: str | None = None
    # The envelope sender (MAIL FROM) where bounces come back: the reader's own address at the
    # inbox (VERP, digest/inbox/reports.py), or None for `sender`. And where a mail client's
    # "unsubscribe" goes (List-Unsubscribe's mailto): only when `digest inbox` reads it.
    return_path: str | None = None
    unsubscribe_mailto: str | None = None
    # A notice (the subscription confirmation) is not list mail: no List-* headers, and a
    # fresh Message-ID each time, so a second one is not dropped as a duplicate of the first.
    notice: bool = False
    # tokens.message_tag for (issue, reader): a digest's Message-ID carries it, so a report
    # quoting the Message-ID proves the message was ours (digest/inbox/reports.py). A notice has none.
    message_tag: str = ""

    @functools.cached_property
    def message_id(self) -> str:
        if self.notice:
            return make_msgid(domain=domain_of(self.sender))
        if not self.message_tag:
            raise ValueError("a digest's Message-ID needs its keyed tag (tokens.message_tag)")
        return tagged_message_id(self.issue_id, self.message_tag, self.sender)


@functools.lru_cache(maxsize=64)  # called per reader with the same few senders
def domain_of(mailbox: str) -> str:
    """The domain of a mailbox, in ASCII: it goes into Message-IDs, List-Id and DKIM."""
    return ascii_domain(parseaddr(mailbox)[1].rpartition("@")[2]) or "localhost"


def wire_address(addr: str) -> str:
    """`addr` as it goes in RCPT TO and the headers. An internationalised domain takes its
    ASCII form (IDNA: `idn@bücher.example` -> `idn@xn--bcher-kva.example`), which every
    server takes; an address whose local part is not ASCII has no such form and stays as it
    is, for a server that offers SMTPUTF8 (RFC 6531); delivery refuses it to any other."""
    if addr.isascii():
        return addr
    local, _, domain = addr.rpartition("@")
    return f"{local}@{ascii_domain(domain)}" if local.isascii() else addr


@functools.lru_cache(maxsize=256)
def ascii_domain(domain: str) -> str:
    """A domain's A-labels (IDNA 2008 with UTS 46 mapping, as email_validator checked the
    address with); the domain as it is if it has none."""
    if domain.isascii():
        return domain
    try:
        return validate_email(f"postmaster@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return domain


def message_id(issue_id: str, email: str, sender: str, secret: str) -> str:
    """Deterministic per (reader, issue): a resend after a crash carries the same id, so
    receiving servers and clients can drop the duplicate. Keyed: only who holds the secret
    can make the id of a message to a given reader (a bounce quoting it then counts)."""
    return tagged_message_id(issue_id, tokens.message_tag(secret, issue_id, email), sender)


def tagged_message_id(issue_id: str, tag: str, sender: str) -> str:
    return f"<{issue_id}.{tag}@{domain_of(sender)}>"


def list_id(list_name: str, sender: str) -> str:
    slug = "-".join("".join(c if c.isalnum() else " " for c in list_name.lower()).split()) or "digest"
    return f"{one_line(list_name)} <{slug}.{domain_of(sender)}>"


def compose(rendered: Rendered, envelope: Envelope, now: datetime) -> bytes:
    """The message as it goes on the wire (CRLF line ends): multipart/alternative, text
    then HTML. Backends take these bytes and the envelope, nothing else.

    Written by hand rather than with EmailMessage, which spends milliseconds per reader
    folding headers and quoted-printable-encoding the HTML: here the HTML goes as 7bit ASCII
    (anything else as a numeric character reference, which every HTML parser decodes), and
    only a text part with non-ASCII letters, or a part with a line over 998 octets, is
    encoded (base64, in C). Header values are flattened to one line first."""
    sender = _sender_headers(envelope.sender, envelope.list_name)
    message_id = envelope.message_id
    headers = [
        sender.from_,
        "To: " + mailbox(envelope.to_name or "", envelope.to_email),
        _header("Subject", rendered.subject),
        _date_header(now),
        f"Message-ID: {message_id}",
    ]
    if envelope.reply_to:
        headers.append("Reply-To: " + mailbox(*parseaddr(one_line(envelope.reply_to))))
    headers += _notice_headers() if envelope.notice else _list_headers(envelope, sender)
    text_cte, text_body = _body(rendered.text.encode("utf-8"))
    html_cte, html_body = _body(rendered.html.encode("ascii", "xmlcharrefreplace"))
    # Derived from the Message-ID so output is reproducible; lengthened in the (crafted)
    # case that a body already contains it.
    boundary = "=_digest_" + hashlib.sha1(message_id.encode()).hexdigest()[:20]
    while boundary.encode() in text_body or boundary.encode() in html_body:
        boundary += "_"
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return b"".join(
        [
            "\r\n".join(headers).encode("utf-8"),
            b"\r\n",
            delimiter,
            _part_headers("text/plain", text_cte),
            text_body,
            delimiter,
            _part_headers("text/html", html_cte),
            html_body,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


def _notice_headers() -> list[str]:
    return ["Auto-Submitted: auto-generated", "MIME-Version: 1.0"]


def _list_headers(envelope: Envelope, sender: _SenderHeaders) -> list[str]:
    """What marks a digest as list mail: its list, one-click unsubscribe, Gmail's feedback id."""
    mailto = (
        f", <mailto:{wire_address(one_line(envelope.unsubscribe_mailto))}?subject=unsubscribe>"
        if envelope.unsubscribe_mailto
        else ""
    )
    return [
        sender.list_id,
        f"List-Unsubscribe: <{one_line(envelope.unsubscribe_url)}>{mailto}",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        # Gmail's bulk-sender guidance: which campaign a complaint is about, and that this is
        # list mail (no out-of-office replies, please).
        sender.feedback_id.format(issue=_token_safe(envelope.issue_id)),
        "Precedence: bulk",
        "MIME-Version: 1.0",
    ]


@dataclass(frozen=True)
class _SenderHeaders:
    from_: str
    list_id: str
    feedback_id: str  # with {issue} to fill in


def _token_safe(value: str) -> str:
    """A Feedback-ID field: letters, digits, dots and dashes (its fields are `:`-separated)."""
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in value)[:60]


@functools.lru_cache(maxsize=4)
def _date_header(now: datetime) -> str:
    return f"Date: {format_datetime(now)}"


@functools.lru_cache(maxsize=16)
def _sender_headers(sender: str, list_name: str) -> _SenderHeaders:
    """The headers that are the same for every reader of a list, worked out once."""
    name, addr = parseaddr(one_line(sender))
    slug = list_id(list_name, sender).rsplit("<", 1)[-1].split(".", 1)[0]
    return _SenderHeaders(
        from_="From: " + mailbox(name, addr),
        list_id=_header("List-Id", list_id(list_name, sender)),
        feedback_id=f"Feedback-ID: {{issue}}:{_token_safe(slug)}:digest:{_token_safe(domain_of(sender))}",
    )


MAX_LINE = 998  # octets, RFC 5322 2.1.1
CRLF = "\r\n"


def html_wire_size(html: str) -> int:
    """The bytes the HTML part of `compose`'s message takes, transfer encoding included:
    what Gmail's clip counts."""
    return len(_body(html.encode("ascii", "xmlcharrefreplace"))[1])


def _part_headers(kind: str, cte: str) -> bytes:
    return f'Content-Type: {kind}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'.encode()


def _body(data: bytes) -> tuple[str, bytes]:
    """A part's transfer encoding and its body with CRLF line ends (no final line end: the
    boundary's leading CRLF belongs to it). ASCII with short lines goes as it is (7bit);
    anything else as base64, which costs a few microseconds in C where quoted-printable
    costs tens. (SpamAssassin frowns on base64 text only without a non-ASCII charset; ours
    always says utf-8.)"""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.rstrip(b"\n")
    if data.isascii() and _lines_fit(data):
        return "7bit", data.replace(b"\n", b"\r\n")
    encoded = binascii.b2a_base64(data, newline=False)
    return "base64", b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])


def _lines_fit(data: bytes) -> bool:
    """No line longer than MAX_LINE. Any line that holds no stretch of MAX_LINE // 2 bytes
    without a newline is short enough, so only such stretches are looked at closely: a
    hundred `find` calls on a 70 KB email, where splitting it into lines makes a thousand
    objects."""
    step, size, start = MAX_LINE // 2, len(data), 0
    while start < size:
        if data.find(b"\n", start, start + step) >= 0:
            start += step
            continue
        line_end = data.find(b"\n", start)
        line_end = size if line_end < 0 else line_end
        if line_end - (data.rfind(b"\n", 0, start) + 1) > MAX_LINE:
            return False
        start = line_end + 1
    return True


def _flat(value: str) -> str:
    """A header value as one line of text a header can carry (models.safe_text)."""
    return one_line(safe_text(value))


def mailbox(name: str, addr: str) -> str:
    """`Name <addr>` with the name quoted or RFC 2047-encoded as needed and the address in
    its wire form (`wire_address`). An address that keeps non-ASCII letters stays UTF-8
    (RFC 6532): encoded words are not allowed there."""
    name, addr = _flat(name), wire_address(_flat(addr))
    if not name:
        return addr
    if name.isascii():
        return _fit(f"{_quoted(name)} <{addr}>", lambda cut: f"{_quoted(cut)} <{addr}>", name, len("To: "))
    return _fit(f"{_encoded_words(name)} <{addr}>", lambda cut: f"{_encoded_words(cut)} <{addr}>", name, 4)


def _quoted(name: str) -> str:
    """An ASCII display name quoted as formataddr quotes it. formataddr itself refuses an
    address with non-ASCII letters, and the quoting does not depend on the address."""
    return formataddr((name, "a@b"))[: -len(" <a@b>")]


@functools.lru_cache(maxsize=256)  # readers with the same lead paper share a subject
def _header(name: str, value: str) -> str:
    """One header line; a non-ASCII value becomes RFC 2047 encoded words."""
    value = _flat(value)
    if value.isascii():
        return _fit(f"{name}: {value}", lambda cut: f"{name}: {cut}", value)
    return _fit(f"{name}: {_encoded_words(value)}", lambda cut: f"{name}: {_encoded_words(cut)}", value)


def _encoded_words(value: str) -> str:
    """RFC 2047 encoded words, each within the 75 characters the RFC allows, on one line:
    the email package would fold them onto several, and no header here is ever folded."""
    return Header(value, "utf-8").encode(linesep=CRLF).replace(CRLF + " ", " ")


def _fit(line: str, remake, value: str, extra: int = 0) -> str:
    """`line`, or when it would pass MAX_LINE octets (a 2,000-character name from a web
    form), remade from a shortened `value` ending in an ellipsis."""
    while len(line.encode()) + extra > MAX_LINE and len(value) > 1:
        value = value[: len(value) * 3 // 4].rstrip() + "..."
        line = remake(value)
    return line
