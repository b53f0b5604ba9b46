"""The inbox's messages, from an IMAP server or a Maildir: each unread one once, marked read
after `digest inbox` has dealt with it (so a rerun, or a run after a crash, reads only what is
new; dealing with a message twice changes nothing). A message digest will not read (too large,
too deep: digest/inbox/reports.py) is set aside: flagged and marked read, so a person sees it and no
later run trips on it. At most `limit` bytes of a message are read: a larger one is cut there,
and that it is larger is all the caller needs to know to set it aside.

IMAP: `imaps://` is TLS from the first byte; `imap://` takes STARTTLS and refuses to log in
without it. The password comes from DIGEST_INBOX_PASSWORD. Certificates are checked against
the system's CA store (SSL_CERT_FILE points elsewhere) unless `inbox.tls_verify: false`.
"""

from __future__ import annotations

import imaplib
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from ..config import INBOX_PASSWORD_ENV, Inbox
from ..errors import DigestError

TIMEOUT = 30.0  # seconds for any one IMAP reply


class Mailbox(Protocol):
    where: str

    # (key, the message as it came, cut after `limit` bytes)
    def unread(self, limit: int) -> Iterator[tuple[str, bytes]]: ...
    def done(self, key: str) -> None: ...  # mark it read
    def set_aside(self, key: str) -> None: ...  # flag it and mark it read
    def close(self) -> None: ...


def open_mailbox(inbox: Inbox, root: Path) -> Mailbox:
    parts = urlsplit(inbox.url)
    if parts.scheme == "maildir":
        path = Path(unquote(parts.netloc + parts.path))
        return MaildirBox(path if path.is_absolute() else root / path)
    password = os.environ.get(INBOX_PASSWORD_ENV)
    if not password:
        raise DigestError(f"inbox.url: {INBOX_PASSWORD_ENV} is not set: the IMAP server needs the password")
    return ImapBox(inbox, password)


class MaildirBox:
    """A Maildir read by its file names (new/KEY, cur/KEY:2,FLAGS), never by parsing a message:
    Python's mailbox.Maildir parses one to read its flags, and a poison message raises there."""

    def __init__(self, path: Path):
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise DigestError(
                f"inbox.url: {path} is not a Maildir (it needs new/ and cur/); point it at the mailbox"
            )
        self.where = str(path)
        self.path = path

    def _files(self) -> dict[str, Path]:
        files = {}
        for sub in ("new", "cur"):
            for entry in (self.path / sub).iterdir():
                if not entry.name.startswith(".") and entry.is_file():
                    files[entry.name.split(":", 1)[0]] = entry
        return files

    def unread(self, limit: int) -> Iterator[tuple[str, bytes]]:
        for key, file in sorted(self._files().items()):
            if "S" not in _flags(file):
                try:
                    with file.open("rb") as handle:
                        raw = handle.read(limit)
                except FileNotFoundError:  # another reader moved it meanwhile
                    continue
                yield key, raw

    def done(self, key: str) -> None:
        self._flag(key, "S")

    def set_aside(self, key: str) -> None:
        self._flag(key, "FS")

    def _flag(self, key: str, flags: str) -> None:
        file = self._files().get(key)
        if file is not None:
            both = "".join(sorted(set(_flags(file)) | set(flags)))
            file.rename(self.path / "cur" / f"{key}:2,{both}")

    def close(self) -> None:
        pass


def _flags(file: Path) -> str:
    info = file.name.partition(":")[2]
    return info[2:] if info.startswith("2,") else ""


class ImapBox:
    def __init__(self, inbox: Inbox, password: str):
        parts = urlsplit(inbox.url)
        host, user = parts.hostname or "", unquote(parts.username or "")
        folder = unquote(parts.path.strip("/")) or "INBOX"
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
        self.where = f"{parts.scheme}://{host}:{port}/{folder}"
        self.imap: imaplib.IMAP4
        context = ssl.create_default_context()
        if not inbox.tls_verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            if parts.scheme == "imaps":
                self.imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT)
            else:
                self.imap = imaplib.IMAP4(host, port, timeout=TIMEOUT)
                if "STARTTLS" not in self.imap.capabilities:
                    self.imap.shutdown()
                    raise DigestError(
                        f"inbox.url: {self.where} offers no STARTTLS, and the password is sent only "
                        "over TLS; use imaps:// or enable TLS on the server"
                    )
                self.imap.starttls(ssl_context=context)
            self.imap.login(user, password)
            status, _ = self.imap.select(_quoted(folder))
            if status != "OK":
                raise DigestError(f"inbox.url: {self.where}: no such folder {folder!r}")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise DigestError(f"inbox.url: {self.where}: {_reason(exc)}") from None

    def unread(self, limit: int) -> Iterator[tuple[str, bytes]]:
        try:
            status, data = self.imap.uid("SEARCH", "UNSEEN")
            for uid in (data[0] or b"").split() if status == "OK" else []:
                # a partial fetch: the server sends at most `limit` bytes of a message
                status, fetched = self.imap.uid("FETCH", uid.decode(), f"(BODY.PEEK[]<0.{limit}>)")
                raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
                if status == "OK" and raw is not None:
                    yield uid.decode(), raw
        except (OSError, imaplib.IMAP4.error) as exc:
            raise DigestError(f"inbox.url: {self.where}: {_reason(exc)}") from None

    def done(self, key: str) -> None:
        self._flag(key, "(\\Seen)")

    def set_aside(self, key: str) -> None:
        self._flag(key, "(\\Seen \\Flagged)")

    def _flag(self, key: str, flags: str) -> None:
        try:
            self.imap.uid("STORE", key, "+FLAGS", flags)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise DigestError(f"inbox.url: {self.where}: {_reason(exc)}") from None

    def close(self) -> None:
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's certificate cannot be trusted ({exc.verify_message}); "
            "set SSL_CERT_FILE or inbox.tls_verify"
        )
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT:.0f} s"
    if isinstance(exc, imaplib.IMAP4.error):
        text = exc.args[0] if exc.args else exc
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"the server refused: {text}"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
