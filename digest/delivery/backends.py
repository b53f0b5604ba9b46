"""Delivery backends: hand one composed message to SMTP, a folder or the terminal.

    open_backend(settings, root).deliver(raw, envelope) -> where it went

`delivery.url` picks the backend:

- `smtp://[user@]host:port`: STARTTLS whenever the server offers it, and required whenever a
  password is set (DIGEST_SMTP_PASSWORD); `smtp://host:25` to a local relay that offers no
  TLS sends in the clear. `smtps://[user@]host:465`: TLS from the first byte.
- `file://DIR`: `DIR/<issue>/<recipient>.eml`; `maildir://DIR`: a Maildir (new/, cur/, tmp/).
- `console://`: print each message.
- `ses://REGION`, `postmark://`, `mailgun://DOMAIN`, `sendgrid://`, `resend://`: a mail
  provider's HTTP API (digest/delivery/providers.py); those with a batch call are BatchBackends.

One backend is one SMTP connection, opened on the first message and kept for the next: the
send run opens `delivery.concurrency` of them (digest/delivery/pool.py). Failures come in three
kinds, because each asks for something different of the caller:

- `TransientError`: a 4xx reply, a dropped connection, a timeout. Try again later.
- `BounceError`: a 5xx reply about this recipient's address. Never mail the address again.
- `RefusedError`: a 5xx reply about this message (too large, taken for spam, a policy). The
  message failed; the reader stays, and the next run tries again.
- `UncertainError`: the whole message went out, then no reply came in time. The server may
  well have it: never send it again, and say so.
- `FatalError`: the server refuses *us* (bad login, sender refused, no TLS for a password,
  an untrusted certificate). Every other message would fail the same way: stop.

What a 5xx reply is about (`_refusal`): an enhanced status code (RFC 3463) says it, when the
reply has one: X.1.x is about an address, the recipient's (bounce) or, for X.1.7 and X.1.8,
our sender's (fatal); any other class is about the message, a policy or the system. Without
one, only 550, 551 and 553 to RCPT TO are about the address. Relaying and login refusals are
about us wherever they come. A reader wrongly kept costs a refused message a day; a reader
wrongly bounced is lost, so what is unclear does not bounce.
"""

from __future__ import annotations

import functools
import os
import re
import smtplib
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from ..compose.mail import Envelope, domain_of, wire_address
from ..errors import DeliveryError, DigestError, install_hint
from ..util.files import write_atomic

if TYPE_CHECKING:
    from ..config import Delivery, Dkim


class TransientError(DeliveryError):
    """4xx, a dropped connection or a timeout: the same message may go through later;
    `retry_after` is the wait the server asked for (an HTTP API's Retry-After), if any."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BounceError(DeliveryError):
    """The server refused this recipient for good (5xx): stop mailing the address."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class RefusedError(DeliveryError):
    """The server refused this message for good (5xx), for a reason that is not the address."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class UncertainError(DeliveryError):
    """The message was sent to its final dot and no reply came within the wait: the server
    may have accepted it. Not retried; recorded as sent, with the doubt."""


class FatalError(DeliveryError):
    """The server refuses the sender, not the reader: every message would fail alike."""


class Backend(Protocol):
    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        """Hand one message over; return where it went. Raise DeliveryError on failure."""
        ...

    def close(self) -> None: ...


class BatchBackend(Backend, Protocol):
    """A backend that can take several messages a call (an HTTP API's batch endpoint).
    `deliver_batch` answers for each message, in order: where it went, or its error."""

    batch_size: int

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[str | DeliveryError]: ...


def batch_size(backend: Backend) -> int:
    """How many messages the pool should hand `backend` at once (1: one by one)."""
    return getattr(backend, "batch_size", 1) if hasattr(backend, "deliver_batch") else 1


def open_backend(settings: Delivery, root: Path) -> Backend:
    """The backend for the config's `delivery:` (its url, timeouts, TLS and DKIM); relative
    folders are relative to `root`."""
    from ..config import API_SCHEMES, SMTP_PASSWORD_ENV

    url = settings.url
    parts = urlsplit(url)
    backend: Backend
    if parts.scheme in ("smtp", "smtps"):
        backend = SmtpBackend(
            SmtpTarget.from_url(url, password=os.environ.get(SMTP_PASSWORD_ENV) or None), settings
        )
    elif parts.scheme in ("file", "maildir"):
        folder = Path(unquote(parts.netloc + parts.path))
        folder = folder if folder.is_absolute() else root / folder
        backend = FileBackend(folder) if parts.scheme == "file" else MaildirBackend(folder)
    elif parts.scheme == "console":
        backend = ConsoleBackend()
    elif parts.scheme in API_SCHEMES:
        from .providers import open_api  # httpx and the providers only when one is used

        backend = open_api(settings)
    else:
        raise DigestError(
            f"delivery.url: unsupported scheme {parts.scheme!r}; "
            "use smtp://, smtps://, file://DIR, maildir://DIR, console:// or an API: "
            + ", ".join(f"{s}://" for s in API_SCHEMES)
        )
    if settings.dkim is not None:
        backend = Signed(backend, dkim_signer(settings.dkim))
    return backend


# --- SMTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    user: str | None
    password: str | None = field(repr=False)  # never in a repr that could reach a log

    @classmethod
    def from_url(cls, url: str, *, password: str | None) -> SmtpTarget:
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            user=unquote(parts.username) if parts.username else None,
            password=password,
        )

    def __str__(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


class SmtpBackend:
    """One persistent SMTP connection, opened on first use and reopened after a failure.

    Not thread-safe: each worker of the send run has its own."""

    def __init__(self, target: SmtpTarget, settings: Delivery):
        self.target = target
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self._tls: ssl.SSLContext | None = None

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        reused = self.smtp is not None
        try:
            return self._transaction(self._connection(), raw, envelope)
        except _StaleConnection:
            # A server may close a connection it finds idle; that is no failure of this
            # message, so it goes again at once on a fresh connection.
            if not reused:
                raise TransientError(f"{self.target}: connection closed by the server") from None
            return self._transaction(self._connection(), raw, envelope)

    def check_login(self) -> str:
        """Connect, EHLO, STARTTLS and AUTH as a send would, then QUIT: sends nothing (`digest
        doctor`). What was agreed, or a DeliveryError saying what the server refused."""
        smtp = self._connection()
        tls = "TLS" if isinstance(smtp.sock, ssl.SSLSocket) else "no TLS"
        login = f"logged in as {self.target.user!r}" if self.target.user else "no login configured"
        self.close()
        return f"{self.target}: {tls}, {login}"

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    # The connection: connect, greeting, EHLO, STARTTLS, AUTH.

    def _connection(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        t, s = self.target, self.settings
        try:
            if t.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    t.host,
                    t.port,
                    local_hostname=_fqdn(),
                    timeout=s.connect_timeout,
                    context=self._tls_context(),
                )
            else:
                smtp = smtplib.SMTP(t.host, t.port, local_hostname=_fqdn(), timeout=s.connect_timeout)
        except smtplib.SMTPConnectError as exc:
            raise _reply_error(
                f"{t}: refused the connection", exc.smtp_code, exc.smtp_error, FatalError
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise FatalError(_untrusted(t, exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"{t}: cannot connect: {_describe(exc)}") from None
        self.smtp = smtp
        try:
            _timeout(smtp, s.timeout)
            self._hello(smtp)
            if not t.implicit_tls:
                if smtp.has_extn("starttls"):
                    code, reply = smtp.starttls(context=self._tls_context())
                    if code != 220:
                        raise _reply_error(f"{t}: STARTTLS refused", code, reply, FatalError)
                    self._hello(smtp)
                elif t.password:
                    raise FatalError(
                        f"{t} does not offer STARTTLS: the password is never sent in the clear. "
                        "Use smtps://HOST:465, or a server that offers STARTTLS"
                    )
            if t.user:
                self._login(smtp)
        except DeliveryError:
            self._drop()
            raise
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise FatalError(_untrusted(t, exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise TransientError(f"{t}: connection lost while opening: {_describe(exc)}") from None
        return smtp

    def _hello(self, smtp: smtplib.SMTP) -> None:
        code, reply = smtp.ehlo()
        if not 200 <= code <= 299:
            code, reply = smtp.helo()
            if not 200 <= code <= 299:
                raise _reply_error(f"{self.target}: refused HELO", code, reply, FatalError)

    def _login(self, smtp: smtplib.SMTP) -> None:
        t = self.target
        from ..config import SMTP_PASSWORD_ENV

        if not t.password:
            raise FatalError(f"{t}: the URL names user {t.user!r}; set {SMTP_PASSWORD_ENV} to its password")
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        try:
            # One mechanism, not smtplib's walk through all of them: a refused password is
            # refused, and trying the next mechanism only hides the server's answer.
            mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
            if mechanism is None:
                smtp.login(t.user or "", t.password)
            else:
                smtp.user, smtp.password = t.user or "", t.password
                smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        except smtplib.SMTPNotSupportedError:
            raise FatalError(f"{t} offers no login (AUTH); remove the user from the URL") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise _reply_error(
                f"{t}: login as {t.user!r} failed (check {SMTP_PASSWORD_ENV})",
                exc.smtp_code,
                exc.smtp_error,
                FatalError,
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise  # the connection dropped: transient, as anywhere else
        except smtplib.SMTPException as exc:
            raise FatalError(f"{t}: login as {t.user!r} failed: {_describe(exc)}") from None

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context()
            if not self.settings.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls = context
        return self._tls

    def _drop(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            smtp.close()

    # One message: MAIL, RCPT, DATA. Which command a reply answers says whose problem it is.

    def _transaction(self, smtp: smtplib.SMTP, raw: bytes, envelope: Envelope) -> str:
        t = self.target
        sender = _address(envelope.return_path or envelope.sender)
        recipient = wire_address(envelope.to_email)
        options = []
        if not (sender + recipient).isascii():
            if not smtp.has_extn("smtputf8"):
                self._reset(smtp)
                raise DeliveryError(f"{t} cannot take non-ASCII addresses (no SMTPUTF8): {recipient}")
            options = ["SMTPUTF8"]
            smtp.command_encoding = "utf-8"
        stage = "MAIL FROM"
        try:
            # docmd rather than smtp.mail/rcpt, which parse both addresses again per message.
            code, reply = smtp.docmd("mail", f"FROM:<{sender}>{''.join(' ' + o for o in options)}")
            if code != 250:
                self._reset(smtp)
                raise _reply_error(f"{t}: sender {sender} refused", code, reply, FatalError)
            stage = "RCPT TO"
            code, reply = smtp.docmd("rcpt", f"TO:<{recipient}>")
            if code not in (250, 251):
                self._reset(smtp)
                raise _refusal(f"{t}: {recipient} refused", code, reply, rcpt=True)
            stage = "DATA"
            code, reply = smtp.docmd("data")
            if code == 354:
                smtp.send(_dot_stuffed(raw))
                stage = "the final reply"
                code, reply = self._final_reply(smtp)
                if not 400 <= code < 600 and code != 250:  # not a reply we can read either way
                    self._drop()
                    raise UncertainError(
                        f"{t}: no readable reply to the end of the message for {recipient} "
                        f"({code} {_one_line(reply)}); it may have arrived, so it is not sent again"
                    )
            if code != 250:
                self._reset(smtp)
                raise _refusal(f"{t}: message to {recipient} refused", code, reply, rcpt=False)
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            if stage == "MAIL FROM" and isinstance(exc, smtplib.SMTPServerDisconnected):
                raise _StaleConnection from None
            if stage == "the final reply" and _timed_out(exc):
                raise UncertainError(
                    f"{t}: no reply to the end of the message for {recipient} within "
                    f"{self._final_wait():g}s (delivery.final_reply_timeout); it may have arrived, "
                    "so it is not sent again"
                ) from None
            raise TransientError(f"{t}: {_describe(exc)} during {stage} for {recipient}") from None
        return f"{t} {_one_line(reply)}"

    def _final_wait(self) -> float:
        return max(self.settings.timeout, self.settings.final_reply_timeout)

    def _final_reply(self, smtp: smtplib.SMTP) -> tuple[int, bytes]:
        """The reply to the final dot. RFC 5321 (4.5.3.2.6) has the client wait 10 minutes
        for it: the server may be scanning the message, and a client that gives up sooner
        and sends again delivers it twice (the duplicate problem of RFC 1047)."""
        _timeout(smtp, self._final_wait())
        try:
            return smtp.getreply()
        finally:
            if smtp.sock is not None:
                smtp.sock.settimeout(self.settings.timeout)

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """RSET after a refused command, so the connection can carry the next message; a
        421 reply or a server that does not answer closes it instead."""
        try:
            code, _ = smtp.rset()
        except (OSError, smtplib.SMTPException):
            code = 0
        if code != 250:
            self._drop()


def _dot_stuffed(raw: bytes) -> bytes:
    """The message as DATA carries it: a dot doubled at the start of a line, and the final
    line with the lone dot. smtplib does this with a regular expression that costs ~140 us
    for a 45 KB digest; bytes.replace costs a fifth of that."""
    body = raw.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n")


class _StaleConnection(Exception):
    pass


@functools.lru_cache(maxsize=16)
def _address(mailbox: str) -> str:
    return wire_address(parseaddr(mailbox)[1])


@functools.cache
def _fqdn() -> str:
    """The name we give in EHLO. smtplib would look it up (a reverse DNS query, slow on some
    networks) for every connection; once per process is enough."""
    return socket.getfqdn()


# A 5xx about relaying or logging in is about our account at the relay, not the reader: it
# must stop the run, never mark a reader bounced.
_NOT_THE_READER = re.compile(r"relay|authenticat|auth required|must issue a starttls", re.I)
# RFC 3463: class.subject.detail at the start of the text, e.g. "5.1.1 User unknown".
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\b")


def _reply_error(what: str, code: int, reply: bytes | str, permanent: type[DeliveryError]) -> DeliveryError:
    text = f"{what}: {code} {_one_line(reply)}"
    if 400 <= code < 500:
        return TransientError(text)
    return permanent(text)


def _refusal(what: str, code: int, reply: bytes | str, *, rcpt: bool) -> DeliveryError:
    """A refused RCPT TO (`rcpt`) or message: whose problem it is (the module's docstring)."""
    line = _one_line(reply)
    text = f"{what}: {code} {line}"
    if not 500 <= code < 600:  # 4xx, or no reply code at all: try again later
        return TransientError(text)
    if code in (530, 535, 538) or _NOT_THE_READER.search(line):
        return FatalError(text)
    enhanced = _ENHANCED.match(line)
    if enhanced is not None:
        if enhanced[2] == "1" and enhanced[3] in ("7", "8"):  # our sender's address
            return FatalError(text)
        about_address = enhanced[2] == "1"
    else:
        about_address = rcpt and code in (550, 551, 553)
    return BounceError(text, code) if about_address else RefusedError(text, code)


def _timeout(smtp: smtplib.SMTP, seconds: float) -> None:
    """Set the socket's timeout; a connection the server already closed is a disconnect, as
    smtplib reports it, not a crash."""
    if smtp.sock is None:
        raise smtplib.SMTPServerDisconnected("the server closed the connection")
    smtp.sock.settimeout(seconds)


def _timed_out(exc: BaseException) -> bool:
    """Whether `exc` is, or was raised while handling, a timeout (smtplib turns a read that
    timed out into SMTPServerDisconnected)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _one_line(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return _one_line(str(exc)) or type(exc).__name__


def _untrusted(target: SmtpTarget, exc: ssl.SSLCertVerificationError) -> str:
    return (
        f"{target}: TLS certificate not trusted ({exc.verify_message or exc}); "
        "for a local relay with a self-signed certificate set delivery.tls_verify: false"
    )


# --- files ----------------------------------------------------------------------------------


class FileBackend:
    """Writes `DIR/<issue>/<recipient>.eml`, atomically: a crash never leaves half a message,
    and a message sent again replaces the first copy."""

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


class MaildirBackend:
    """Delivers into a Maildir as a mail server does: written and fsynced in tmp/, then
    renamed into new/, so a mail client never sees half a message."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, root: Path):
        self.root = root

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        with MaildirBackend._lock:
            MaildirBackend._counter += 1
            count = MaildirBackend._counter
        now = time.time()
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{count}.{host}"
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            tmp = self.root / "tmp" / name
            with open(tmp, "xb") as handle:
                handle.write(raw.replace(b"\r\n", b"\n"))  # Maildir files use local line ends
                handle.flush()
                os.fsync(handle.fileno())
            final = self.root / "new" / name
            os.rename(tmp, final)
        except OSError as exc:
            raise DeliveryError(f"cannot write to Maildir {self.root}: {exc.strerror or exc}") from exc
        return str(final)

    def close(self) -> None:
        pass


class ConsoleBackend:
    """Prints each message to standard output, for trying a configuration."""

    _lock = threading.Lock()

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        with ConsoleBackend._lock:  # several workers: whole messages, never interleaved
            sys.stdout.write(raw.decode("utf-8", "replace").replace("\r\n", "\n") + "\n")
            sys.stdout.flush()
        return "stdout"

    def close(self) -> None:
        pass


# --- DKIM -----------------------------------------------------------------------------------

# What the signature covers. RFC 8058 asks for List-Unsubscribe and List-Unsubscribe-Post to
# be signed, or one-click unsubscribe is not trusted.
DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
]


def dkim_signer(settings: Dkim):
    """A function adding a DKIM-Signature header to a composed message. dkimpy is imported
    only here, when `delivery.dkim` is set."""
    try:
        import dkim
    except ImportError:
        raise DigestError(
            f"delivery.dkim is set but dkimpy is not installed: {install_hint('dkim')}"
        ) from None
    try:
        key = settings.key_file.read_bytes()
    except OSError as exc:
        raise DigestError(f"delivery.dkim.key_file: cannot read {settings.key_file}: {exc}") from None
    selector = settings.selector.encode()
    try:  # a bad key stops the run before the first message, not at every one
        dkim.sign(b"From: a@example.org\r\n\r\n", selector, b"example.org", key)
    except Exception as exc:  # dkimpy raises several kinds for a key it cannot use
        raise DigestError(
            f"delivery.dkim.key_file: {settings.key_file} is not a usable PEM RSA private key ({exc})"
        ) from None

    def sign(raw: bytes, envelope: Envelope) -> bytes:
        domain = (settings.domain or domain_of(envelope.sender)).encode()
        try:
            header = dkim.sign(raw, selector, domain, key, include_headers=DKIM_HEADERS)
        except dkim.DKIMException as exc:
            raise FatalError(f"DKIM signing failed: {exc} (delivery.dkim)") from None
        # dkimpy folds its header over several lines; relaxed header canonicalisation makes
        # one line sign the same, and one line is what every other header here is.
        return re.sub(rb"\r\n[ \t]+", b" ", header.rstrip(b"\r\n")) + b"\r\n" + raw

    return sign


class Signed:
    """Any backend, with each message DKIM-signed on its way in."""

    def __init__(self, inner: Backend, sign):
        self.inner = inner
        self.sign = sign

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        return self.inner.deliver(self.sign(raw, envelope), envelope)

    def close(self) -> None:
        self.inner.close()
