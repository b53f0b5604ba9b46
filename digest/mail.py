"""MIME composition and delivery backends.

Every header value is flattened to one line first: a CR or LF from a feed must never start a
header of its own. Delivery URLs: `file://DIR` (one .eml per message) and `console://`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from .errors import DigestError
from .models import one_line
from .render import Rendered

# No folding: List-Unsubscribe must reach the client as one line (RFC 8058 senders are
# judged on it), and nothing we put in a header comes near the 998-character limit.
POLICY = policy.SMTP.clone(max_line_length=998)


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

    @property
    def message_id(self) -> str:
        return message_id(self.issue_id, self.to_email, self.sender)


def domain_of(mailbox: str) -> str:
    return parseaddr(mailbox)[1].rpartition("@")[2] or "localhost"


def message_id(issue_id: str, email: str, sender: str) -> str:
    """Deterministic per (reader, issue): a resend after a crash carries the same id, so
    receiving servers and clients can drop the duplicate."""
    key = hashlib.sha256(f"{issue_id}\0{email.lower()}".encode()).hexdigest()[:24]
    return f"<{issue_id}.{key}@{domain_of(sender)}>"


def list_id(list_name: str, sender: str) -> str:
    slug = "-".join("".join(c if c.isalnum() else " " for c in list_name.lower()).split()) or "digest"
    return f"{one_line(list_name)} <{slug}.{domain_of(sender)}>"


def compose(rendered: Rendered, envelope: Envelope, now: datetime) -> bytes:
    """The message as it goes on the wire (CRLF line ends): multipart/alternative, text
    then HTML. Backends take these bytes and the envelope, nothing else."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = one_line(envelope.sender)
    msg["To"] = formataddr((one_line(envelope.to_name or ""), one_line(envelope.to_email)))
    msg["Subject"] = one_line(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = envelope.message_id
    if envelope.reply_to:
        msg["Reply-To"] = one_line(envelope.reply_to)
    msg["List-Id"] = list_id(envelope.list_name, envelope.sender)
    mailto = parseaddr(envelope.sender)[1]
    msg["List-Unsubscribe"] = f"<{one_line(envelope.unsubscribe_url)}>, <mailto:{mailto}?subject=unsubscribe>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes(policy=POLICY)


class DeliveryError(Exception):
    """One message could not be delivered; the run goes on with the next reader."""


class Backend(Protocol):
    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        """Hand one message over; return where it went. Raise DeliveryError on failure."""
        ...

    def close(self) -> None: ...


class FileBackend:
    """Writes `DIR/<issue>/<recipient>.eml`, atomically: a crash never leaves half a message."""

    def __init__(self, root: Path):
        self.root = root

    def path_for(self, envelope: Envelope) -> Path:
        safe = "".join(c if c.isalnum() or c in "@._+-" else "_" for c in envelope.to_email.lower())
        return self.root / envelope.issue_id / f"{safe}.eml"

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        path = self.path_for(envelope)
        try:
            write_atomic(path, raw)
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return str(path)

    def close(self) -> None:
        pass


class ConsoleBackend:
    """Prints each message to standard output, for trying a configuration."""

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        sys.stdout.write(raw.decode("utf-8", "replace").replace("\r\n", "\n") + "\n")
        sys.stdout.flush()
        return "stdout"

    def close(self) -> None:
        pass


def open_backend(url: str, root: Path) -> Backend:
    """The backend for a `delivery.url`; relative file:// folders are relative to `root`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        folder = Path(parts.netloc + parts.path)
        return FileBackend(folder if folder.is_absolute() else root / folder)
    if parts.scheme == "console":
        return ConsoleBackend()
    raise DigestError(f"delivery.url: unsupported scheme {parts.scheme!r}; use file://DIR or console://")


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
