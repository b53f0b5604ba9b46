"""Mail providers' HTTP APIs as delivery backends, beside SMTP:

    ses://REGION          Amazon SES v2 SendEmail, the composed message as Content.Raw,
                          signed with SigV4 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                          AWS_SESSION_TOKEN when the keys are temporary)
    postmark://           Postmark /email/batch, up to 500 messages a call (DIGEST_POSTMARK_TOKEN)
    mailgun://DOMAIN      Mailgun /v3/DOMAIN/messages.mime, the composed message as it is
                          (DIGEST_MAILGUN_API_KEY; ?region=eu for api.eu.mailgun.net)
    sendgrid://           SendGrid /v3/mail/send (DIGEST_SENDGRID_API_KEY; ?region=eu)
    resend://             Resend /emails/batch, up to 100 a call (DIGEST_RESEND_API_KEY)

Every URL takes `?endpoint=URL` to send elsewhere than the provider's own host (a proxy, or
the loopback server the tests run).

Which calls carry several messages, and why the others do not: Postmark's and Resend's
batch calls take distinct messages and answer for each one, so a bad address fails its own
message only. SES's SendBulkEmail and SendGrid's personalizations carry one template or one
body for all their recipients, with small per-recipient substitutions (SendGrid: 10,000
bytes in all); every digest here is its reader's own (their papers, their unsubscribe links)
and SendGrid fails the whole call for one bad address. Mailgun's batch sending is the same
template-and-variables shape. Those three send one message a request, over kept-alive
connections, `delivery.concurrency` at a time.

SES and Mailgun take the composed MIME message, so every header and the DKIM signature
arrive as built. Postmark, SendGrid and Resend take fields: the message is read back into
from, to, subject, text and HTML, and its other headers (List-Unsubscribe,
List-Unsubscribe-Post, List-Id, Feedback-ID, Message-ID) go as the API's custom headers.

How an answer maps to the errors of digest/delivery/backends.py, as for an SMTP reply: 429 and 5xx
are transient (retried by the pool, after `Retry-After` when given); a per-message refusal
of the recipient (Postmark 406 inactive, an invalid `to`) bounces the reader; a refusal of
the message is a RefusedError; a refusal of our key, sender or account stops the run
(FatalError); a request sent whose answer never came is uncertain for every message in it.
Providers that accept a suppressed address and drop it later report it through their
webhooks (digest/inbox/webhooks.py), not here.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ..compose.mail import Envelope
from ..config import API_KEYS
from ..errors import DigestError
from ..sources.httpclient import USER_AGENT
from ..util import capped
from ..util.retry import retry_after_seconds
from . import sigv4
from .backends import (
    BounceError,
    DeliveryError,
    FatalError,
    RefusedError,
    TransientError,
    UncertainError,
)

if TYPE_CHECKING:
    from ..config import Delivery

# One result per message handed over: where it went, or why not.
Result = str | DeliveryError


# --- the composed message, read back into an API's fields ------------------------------------

# Headers the APIs build from their own fields, or refuse as custom headers.
_OWNED = frozenset(
    "from to cc bcc subject reply-to date mime-version content-type content-transfer-encoding "
    "dkim-signature return-path sender".split()
)


@dataclass
class Fields:
    sender: str  # the From header, "Name <address>"
    to: str
    subject: str
    reply_to: str | None
    text: str | None
    html: str | None
    headers: list[tuple[str, str]]  # the rest, in order

    def named(self, html: str, text: str, reply_to: str) -> dict[str, str]:
        """The bodies and Reply-To under an API's names, leaving out what the message lacks."""
        given = {html: self.html, text: self.text, reply_to: self.reply_to}
        return {name: value for name, value in given.items() if value}


def fields_of(raw: bytes) -> Fields:
    """The message's fields. Parsed with compat32, which leaves headers as text: the default
    policy's header objects cost 5 ms a digest, the most of an API send; only the headers
    sent on are decoded (RFC 2047), and each body part from its transfer encoding."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    bodies: dict[str, str] = {}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in bodies and not part.get_filename():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                bodies[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return Fields(
        sender=_header(message["From"], "From"),
        to=_header(message["To"], "To"),
        subject=_header(message["Subject"]),
        reply_to=_header(message["Reply-To"], "Reply-To") or None,
        text=bodies.get("text/plain"),
        html=bodies.get("text/html"),
        headers=[
            (name, _header(value, name)) for name, value in message.items() if name.lower() not in _OWNED
        ],
    )


def _header(value: str | None, name: str = "Subject") -> str:
    if not value:
        return ""
    if "=?" in value:  # encoded words: the default policy's rules for the spaces between them
        return str(policy.default.header_fetch_parse(name, value)).strip()
    return _FOLD.sub(" ", value).strip()


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _address(mailbox: str) -> dict[str, str]:
    name, email = parseaddr(mailbox)
    return {"email": email, "name": name} if name else {"email": email}


# --- HTTP, shared ---------------------------------------------------------------------------

_RETRY_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))
MAX_ANSWER_BYTES = 1_000_000  # a batch of 500 messages is answered in ~100 KB; more is read no further


class ApiBackend:
    """One provider's API over one httpx client (kept-alive connections). Subclasses build
    the requests and read the answers; errors on the way are sorted here."""

    name = ""
    batch_size = 1  # messages a call can carry
    key_hint = ""  # the environment variable to check when the provider refuses the key

    def __init__(self, settings: Delivery, base: str, **client: object):
        self.base = base.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base,
            # The answer is waited for as long as an SMTP server's reply to the final dot
            # (delivery.final_reply_timeout): giving up on a call the provider is still
            # working through makes every message in it uncertain.
            timeout=httpx.Timeout(
                settings.timeout,
                connect=settings.connect_timeout,
                read=max(settings.timeout, settings.final_reply_timeout),
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            **client,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.http.close()

    # A GET that needs the key and changes nothing (the account, the domain): `digest doctor`.
    key_check = ""

    def key_check_headers(self) -> dict[str, str]:
        return {}

    def check_key(self) -> str:
        """Whether the provider takes the key, asked without sending: what it said, or a
        DeliveryError (FatalError for a refused key)."""
        where = f"{self.name} {self.base}{self.key_check}"
        try:
            response = self.http.get(self.key_check, headers=self.key_check_headers(), timeout=30.0)
        except httpx.HTTPError as exc:
            raise TransientError(f"{where}: cannot connect ({_describe(exc)})") from None
        if response.status_code in (401, 403) and not self.sending_only(response):
            raise FatalError(
                f"{where}: HTTP {response.status_code} {_snippet(response)} (check {self.key_hint})"
            )
        if response.status_code >= 400 and not self.sending_only(response):
            raise DeliveryError(f"{where}: HTTP {response.status_code} {_snippet(response)}")
        return f"{where}: the key is accepted"

    def sending_only(self, response: httpx.Response) -> bool:
        """A key the provider limits to sending, refused the check but good for mail."""
        return False

    @property
    def answer_seconds(self) -> float:  # for a whole answer, as for one read of it
        read = self.http.timeout.read
        return read if read is not None else 60.0

    def deliver(self, raw: bytes, envelope: Envelope) -> str:
        result = self.deliver_batch([(raw, envelope)])[0]
        if isinstance(result, DeliveryError):
            raise result
        return result

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Result]:
        raise NotImplementedError

    def post(self, path: str, what: str, **request: object) -> httpx.Response:
        """POST, with the transport's failures and the provider's 429/5xx as delivery errors.
        `what` names the messages in the errors ("3 messages", "reader@example.org")."""
        where = f"{self.name} {self.base}{path}"
        try:
            response, cut = capped.post(self.http, path, MAX_ANSWER_BYTES, self.answer_seconds, **request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"{where}: cannot connect ({_describe(exc)})") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:  # the request never went out whole
            raise TransientError(f"{where}: the request broke off ({_describe(exc)})") from None
        except httpx.HTTPError as exc:  # ReadTimeout, ReadError, RemoteProtocolError, DecodingError
            # Sent whole, and no answer: the provider may well have queued it (as with no
            # reply to an SMTP final dot): recorded sent, with the doubt, never sent again.
            # A kept-alive connection the provider closed while idle is not this: httpcore
            # sees it closed before reusing it.
            raise UncertainError(
                f"{where}: no answer for {what} after sending ({_describe(exc)}); "
                "they may have gone out, so they are not sent again"
            ) from None
        if cut and response.is_success:  # taken, most likely; what for, the answer no longer says
            raise UncertainError(
                f"{where}: HTTP {response.status_code} with an answer over {MAX_ANSWER_BYTES // 1000} KB "
                f"for {what}; they may have gone out, so they are not sent again"
            )
        if response.status_code in _RETRY_STATUS:
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
            raise TransientError(
                f"{where}: HTTP {response.status_code} {_snippet(response)}", retry_after=wait
            )
        if response.status_code in (401, 403):
            raise FatalError(
                f"{where}: HTTP {response.status_code} {_snippet(response)} (check {self.key_hint})"
            )
        return response


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _json(response: httpx.Response, where: str):
    """The answer's JSON; None for a refusal whose body is not JSON (a proxy's error page)."""
    try:
        return response.json()
    except ValueError:
        if not response.is_success:
            return None
        # A 2xx we cannot read: the provider took the request, we cannot say for what.
        raise UncertainError(f"{where}: HTTP {response.status_code} with a body that is not JSON") from None


def _chunks(payloads: list[bytes], most: int, budget: int) -> list[list[int]]:
    """Indexes of `payloads` in runs of at most `most` items and `budget` bytes."""
    runs: list[list[int]] = []
    size = 0
    for i, payload in enumerate(payloads):
        if not runs or len(runs[-1]) >= most or size + len(payload) > budget:
            runs.append([])
            size = 0
        runs[-1].append(i)
        size += len(payload) + 1
    return runs


class _Batched(ApiBackend):
    """A provider whose batch call answers for each message: requests of at most
    `batch_size` messages and `max_bytes` of JSON; a whole request's failure is each of its
    messages' failure (the pool retries the transient ones one by one)."""

    max_bytes = 10_000_000

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Result]:
        payloads = [json.dumps(self.message(fields_of(raw), envelope)).encode() for raw, envelope in items]
        unsent = DeliveryError("not sent")
        results: list[Result] = [unsent] * len(items)
        for run in _chunks(payloads, self.batch_size, self.max_bytes):
            body = b"[" + b",".join(payloads[i] for i in run) + b"]"
            emails = [items[i][1].to_email for i in run]
            try:
                answers = self.send(body, emails)
            except DeliveryError as exc:
                answers = [exc] * len(run)
            for i, answer in zip(run, answers, strict=True):
                results[i] = answer
            fatal = next((a for a in answers if isinstance(a, FatalError)), None)
            if fatal is not None:  # the next requests would be refused alike: not sent
                return [fatal if r is unsent else r for r in results]
        return results

    def message(self, fields: Fields, envelope: Envelope) -> dict:
        raise NotImplementedError

    def send(self, body: bytes, emails: list[str]) -> list[Result]:
        raise NotImplementedError

    def call(self, path: str, body: bytes, emails: list[str]) -> tuple[httpx.Response, Any, str]:
        """POST one batch: the answer, its JSON, and where it came from (for messages)."""
        where = f"{self.name} {self.base}{path}"
        response = self.post(path, _what(emails), content=body, headers={"Content-Type": "application/json"})
        return response, _json(response, where), where


def _what(emails: list[str]) -> str:
    return emails[0] if len(emails) == 1 else f"{len(emails)} messages"


# --- Postmark -------------------------------------------------------------------------------

# ErrorCodes about our token, sender or account (https://postmarkapp.com/developer/api/overview):
# 10 bad token, 400 sender signature not found, 401 not confirmed, 405 not allowed to send
# (no credits), 412 account pending approval, 413/414 message stream problems.
_POSTMARK_FATAL = frozenset({10, 400, 401, 405, 412, 413, 414})


class Postmark(_Batched):
    name = "postmark"
    batch_size = 500  # per /email/batch call, and 50 MB at most
    max_bytes = 45_000_000

    def __init__(self, settings: Delivery, base: str, token: str, stream: str):
        super().__init__(settings, base)
        self.http.headers["X-Postmark-Server-Token"] = token
        self.stream = stream
        self.key_hint = "DIGEST_POSTMARK_TOKEN"
        self.key_check = "/server"

    def message(self, fields: Fields, envelope: Envelope) -> dict:
        return {
            "From": fields.sender,
            "To": fields.to,
            "Subject": fields.subject,
            "Headers": [{"Name": n, "Value": v} for n, v in fields.headers],
            "MessageStream": self.stream,
            **fields.named("HtmlBody", "TextBody", "ReplyTo"),
        }

    def send(self, body: bytes, emails: list[str]) -> list[Result]:
        response, answer, where = self.call("/email/batch", body, emails)
        if response.status_code != 200:  # 422: the whole request refused, with one ErrorCode
            if not (isinstance(answer, dict) and "ErrorCode" in answer):  # a proxy's page, a 413
                said = f"{where}: HTTP {response.status_code} {_snippet(response)}"
                return [RefusedError(said, response.status_code)] * len(emails)
            error = _postmark_error(where, answer["ErrorCode"], str(answer.get("Message", "")), _what(emails))
            if isinstance(error, FatalError | TransientError):
                return [error] * len(emails)
            return [RefusedError(str(error), response.status_code)] * len(emails)
        if not isinstance(answer, list) or len(answer) != len(emails):
            return [
                UncertainError(
                    f"{where}: answered {len(answer) if isinstance(answer, list) else 'no list'} "
                    f"results for {len(emails)} messages; they are not sent again"
                )
            ] * len(emails)
        results: list[Result] = []
        for email, one in zip(emails, answer, strict=True):
            code = one.get("ErrorCode") if isinstance(one, dict) else None
            if code == 0:
                results.append(f"postmark {one.get('MessageID', '')}".rstrip())
            else:
                text = one.get("Message", "") if isinstance(one, dict) else ""
                results.append(_postmark_error(where, code, text, email))
        return results


def _postmark_error(where: str, code: object, text: str, email: str) -> DeliveryError:
    said = f"{where}: {email}: ErrorCode {code}: {text}"
    if code == 406:  # inactive: it bounced hard or complained before, Postmark will not send
        return BounceError(said, 406)
    if code == 300 and "'to'" in text.lower():  # the address itself is not one
        return BounceError(said, 300)
    if code == 300:  # the message is not valid (missing subject, bad header, too large)
        return RefusedError(said, 300)
    if code in _POSTMARK_FATAL:
        return FatalError(said + " (check DIGEST_POSTMARK_TOKEN, the sender signature and the stream)")
    return TransientError(said)


# --- Resend ---------------------------------------------------------------------------------


class Resend(_Batched):
    name = "resend"
    batch_size = 100  # per /emails/batch call
    max_bytes = 35_000_000

    def __init__(self, settings: Delivery, base: str, key: str):
        super().__init__(settings, base)
        self.http.headers["Authorization"] = f"Bearer {key}"
        # Permissive: a message Resend cannot take fails alone, the others go (strict, the
        # default, refuses the whole batch for one bad address).
        self.http.headers["x-batch-validation"] = "permissive"
        self.key_hint = "DIGEST_RESEND_API_KEY"
        self.key_check = "/domains"

    def sending_only(self, response: httpx.Response) -> bool:
        return response.status_code == 401 and b"restricted_api_key" in response.content

    def message(self, fields: Fields, envelope: Envelope) -> dict:
        return {
            "from": fields.sender,
            "to": [fields.to],
            "subject": fields.subject,
            **fields.named("html", "text", "reply_to"),
            "headers": dict(fields.headers),
        }

    def send(self, body: bytes, emails: list[str]) -> list[Result]:
        response, answer, where = self.call("/emails/batch", body, emails)
        if response.status_code != 200:
            name = answer.get("name", "") if isinstance(answer, dict) else ""
            said = f"{where}: HTTP {response.status_code} {name}: {_snippet(response)}"
            if name in ("daily_quota_exceeded", "monthly_quota_exceeded", "invalid_from_address"):
                return [FatalError(said)] * len(emails)
            return [RefusedError(said, response.status_code)] * len(emails)
        data = answer.get("data") if isinstance(answer, dict) else None
        errors = {
            e.get("index"): e.get("message", "") for e in answer.get("errors") or [] if isinstance(e, dict)
        }
        if not isinstance(data, list) or len(data) + len(errors) != len(emails):
            return [
                UncertainError(
                    f"{where}: the answer does not account for each of {len(emails)} "
                    "messages; they are not sent again"
                )
            ] * len(emails)
        ids = iter(data)  # the created emails' ids, in order, the refused ones left out
        results: list[Result] = []
        for i, email in enumerate(emails):
            if i in errors:
                text = errors[i]
                said = f"{where}: {email}: {text}"
                about_to = "`to`" in text or "'to'" in text.lower() or "to field" in text.lower()
                results.append(BounceError(said, 422) if about_to else RefusedError(said, 422))
            else:
                one = next(ids)
                results.append(f"resend {one.get('id', '') if isinstance(one, dict) else ''}".rstrip())
        return results


# --- SendGrid -------------------------------------------------------------------------------


class SendGrid(ApiBackend):
    name = "sendgrid"

    def __init__(self, settings: Delivery, base: str, key: str):
        super().__init__(settings, base)
        self.http.headers["Authorization"] = f"Bearer {key}"
        self.key_hint = "DIGEST_SENDGRID_API_KEY and the sender identity"
        self.key_check = "/v3/scopes"

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Result]:
        return [_caught(self._one, raw, envelope) for raw, envelope in items]

    def _one(self, raw: bytes, envelope: Envelope) -> str:
        fields = fields_of(raw)
        content = []
        if fields.text is not None:  # SendGrid wants text/plain first
            content.append({"type": "text/plain", "value": fields.text})
        if fields.html is not None:
            content.append({"type": "text/html", "value": fields.html})
        body = {
            "personalizations": [{"to": [_address(a) for a in [fields.to]]}],
            "from": _address(fields.sender),
            "subject": fields.subject,
            "content": content,
            "headers": dict(fields.headers),
        }
        if fields.reply_to:
            body["reply_to"] = _address(fields.reply_to)
        where = f"sendgrid {self.base}/v3/mail/send"
        response = self.post("/v3/mail/send", envelope.to_email, json=body)
        if response.status_code == 202:
            return f"sendgrid {response.headers.get('x-message-id', '')}".rstrip()
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        said = f"{where}: {envelope.to_email}: HTTP {response.status_code} " + (
            "; ".join(
                f"{e.get('field') or ''}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
            )
            or _snippet(response)
        )
        about_to = any(
            isinstance(e, dict) and str(e.get("field") or "").startswith("personalizations.0.to")
            for e in errors
        )
        if about_to:  # "Does not contain a valid address."
            raise BounceError(said, response.status_code)
        raise RefusedError(said, response.status_code)


# --- the raw-MIME providers -----------------------------------------------------------------


class Mailgun(ApiBackend):
    name = "mailgun"

    def __init__(self, settings: Delivery, base: str, domain: str, key: str):
        super().__init__(settings, base, auth=("api", key))
        self.domain = domain
        self.key_hint = "DIGEST_MAILGUN_API_KEY, the domain and ?region=eu for an EU domain"
        self.key_check = f"/v3/domains/{domain}"

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Result]:
        return [_caught(self._one, raw, envelope) for raw, envelope in items]

    def _one(self, raw: bytes, envelope: Envelope) -> str:
        path = f"/v3/{self.domain}/messages.mime"
        response = self.post(
            path,
            envelope.to_email,
            data={"to": envelope.to_email},
            files={"message": ("message.mime", raw, "message/rfc822")},
        )
        where = f"mailgun {self.base}{path}"
        if response.status_code == 200:
            answer = _json(response, where)
            return f"mailgun {answer.get('id', '') if isinstance(answer, dict) else ''}".rstrip()
        said = f"{where}: {envelope.to_email}: HTTP {response.status_code} {_snippet(response)}"
        if response.status_code == 404:  # no such domain on this account (or not in this region)
            raise FatalError(said + f" (check the domain and ?region=eu; {self.key_hint})")
        if response.status_code == 400 and (
            "'to'" in response.text.lower() or "to parameter" in response.text
        ):
            raise BounceError(said, 400)
        raise RefusedError(said, response.status_code)


# SES v2 error types (the X-Amzn-ErrorType header) about our account, sender or keys.
_SES_FATAL = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",  # the configuration set
        "LimitExceededException",  # the daily sending quota
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)


class Ses(ApiBackend):
    name = "ses"

    def __init__(
        self,
        settings: Delivery,
        base: str,
        region: str,
        credentials: sigv4.Credentials,
        configuration_set: str | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(settings, base)
        self.region = region
        self.credentials = credentials
        self.configuration_set = configuration_set
        self.clock = clock
        self.key_hint = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        self.key_check = "/v2/email/account"

    def key_check_headers(self) -> dict[str, str]:
        headers = sigv4.sign(
            "GET",
            self.base + self.key_check,
            b"",
            {},
            credentials=self.credentials,
            region=self.region,
            service="ses",
            now=self.clock(),
        )
        headers.pop("host")
        return headers

    def deliver_batch(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Result]:
        return [_caught(self._one, raw, envelope) for raw, envelope in items]

    def _one(self, raw: bytes, envelope: Envelope) -> str:
        path = "/v2/email/outbound-emails"
        request = {
            "FromEmailAddress": parseaddr(envelope.sender)[1],
            "Destination": {"ToAddresses": [envelope.to_email]},
            "Content": {"Raw": {"Data": base64.b64encode(raw).decode()}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        body = json.dumps(request).encode()
        headers = sigv4.sign(
            "POST",
            self.base + path,
            body,
            {"content-type": "application/json"},
            credentials=self.credentials,
            region=self.region,
            service="ses",
            now=self.clock(),
        )
        headers.pop("host")  # httpx writes the same Host itself
        response = self.post(path, envelope.to_email, content=body, headers=headers)
        where = f"ses {self.base}{path}"
        if response.status_code == 200:
            answer = _json(response, where)
            return f"ses {answer.get('MessageId', '') if isinstance(answer, dict) else ''}".rstrip()
        kind = response.headers.get("x-amzn-errortype", "").split(":")[0]
        said = f"{where}: {envelope.to_email}: HTTP {response.status_code} {kind} {_snippet(response)}"
        if kind in _SES_FATAL:
            raise FatalError(said + f" (check {self.key_hint}, the region and the sender identity)")
        raise RefusedError(said, response.status_code)  # MessageRejected, BadRequestException


def _caught(one: Callable[[bytes, Envelope], str], raw: bytes, envelope: Envelope) -> Result:
    try:
        return one(raw, envelope)
    except DeliveryError as exc:
        return exc


# --- from delivery.url ----------------------------------------------------------------------


def _default_base(scheme: str, host: str, query: dict[str, str]) -> str:
    eu = query.get("region") == "eu"
    return {
        "ses": f"https://email.{host}.amazonaws.com",
        "postmark": "https://api.postmarkapp.com",
        "mailgun": "https://api.eu.mailgun.net" if eu else "https://api.mailgun.net",
        "sendgrid": "https://api.eu.sendgrid.com" if eu else "https://api.sendgrid.com",
        "resend": "https://api.resend.com",
    }[scheme]


def missing_keys(scheme: str) -> list[str]:
    return [name for name in API_KEYS.get(scheme, ()) if not os.environ.get(name, "").strip()]


def open_api(settings: Delivery) -> ApiBackend:
    """The backend for an API delivery.url (checked by config.py); a key missing from the
    environment is a usage error naming the variable."""
    parts = urlsplit(settings.url)
    scheme = parts.scheme
    missing = missing_keys(scheme)
    if missing:
        raise DigestError(
            f"delivery.url {scheme}:// needs {' and '.join(missing)} in the environment "
            f"(the key never goes in digest.yaml): set {missing[0]} and run again"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.hostname or ""
    base = query.get("endpoint") or _default_base(scheme, host, query)
    key = os.environ.get(API_KEYS[scheme][0], "").strip()
    if scheme == "ses":
        credentials = sigv4.Credentials(
            key, os.environ["AWS_SECRET_ACCESS_KEY"].strip(), os.environ.get("AWS_SESSION_TOKEN") or None
        )
        return Ses(settings, base, host, credentials, query.get("configuration_set"))
    if scheme == "postmark":
        return Postmark(settings, base, key, query.get("stream", "outbound"))
    if scheme == "mailgun":
        return Mailgun(settings, base, host, key)
    if scheme == "sendgrid":
        return SendGrid(settings, base, key)
    return Resend(settings, base, key)
