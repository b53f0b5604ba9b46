"""Bounce and complaint notifications from mail providers, posted to `digest serve`:

    POST /webhooks/postmark   Postmark's bounce and spam-complaint webhooks, with HTTP Basic
                              credentials (the webhook URL's user:password, DIGEST_POSTMARK_WEBHOOK)
    POST /webhooks/mailgun    Mailgun's `failed` (permanent) and `complained` events, signed with
                              the webhook signing key (DIGEST_MAILGUN_SIGNING_KEY)
    POST /webhooks/ses        Amazon SES bounce and complaint notifications through SNS: the
                              message's signature is checked against the SNS certificate, and
                              only the topics in `webhooks.ses_topics` are taken

A request that is not signed or authenticated as its provider says is refused (403) and
changes nothing. Each verified notification becomes the same findings as a report in the
inbox (digest/inbox/reports.py: a hard bounce, a complaint), applied by the same rules.

Parsing and checking are pure: the clock, the secrets and the certificate fetch are passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import install_hint
from ..models import json_object
from .reports import BOUNCE, COMPLAINT, OTHER, SOFT, UNSUBSCRIBE, Read

POSTMARK_ENV = "DIGEST_POSTMARK_WEBHOOK"  # user:password, as in the webhook URL Postmark posts to
MAILGUN_ENV = "DIGEST_MAILGUN_SIGNING_KEY"
MAILGUN_MAX_AGE = 15 * 60  # seconds: an older signed request is a replay
# SNS's own hosts, exactly: sns.<region>.amazonaws.com, and sns.cn-<...>.amazonaws.com.cn in
# the China partition. Anything looser let in sns.s3.amazonaws.com (an S3 bucket called "sns",
# whose files anyone can write) or sns.execute-api... (anyone's API Gateway).
_REGION = r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})"
_SNS_HOST = re.compile(rf"sns\.(?!cn-){_REGION}\.amazonaws\.com|sns\.cn-[a-z]+-\d{{1,2}}\.amazonaws\.com\.cn")
_CERT_PATH = re.compile(r"/[A-Za-z0-9_-][A-Za-z0-9._/-]*\.pem")


def sns_url(url: str, *, certificate: bool) -> bool:
    """`url` is https on one of SNS's hosts and nothing else: no whitespace or control
    character anywhere (a trailing newline included), no user, password or port, and for a
    certificate a plain `.pem` path with no query. `SubscribeURL` carries a query."""
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return False
    parts = urlsplit(url)
    if not url.startswith("https://") or not _SNS_HOST.fullmatch(parts.netloc) or parts.fragment:
        return False  # a user, password or port makes the netloc fail the host's fullmatch
    if certificate:
        return not parts.query and bool(_CERT_PATH.fullmatch(parts.path)) and ".." not in parts.path
    return parts.path.startswith("/")


class Refused(Exception):
    """The request is not what it says it is: answer 403, change nothing."""


@dataclass(frozen=True)
class Verified:
    found: list[Read]
    subscribe_url: str | None = None  # SNS asks for its subscription to be confirmed
    token: str | None = None  # Mailgun's one-time token: the caller refuses it a second time


# --- Postmark ----------------------------------------------------------------------------------

# Postmark's bounce types that say the address is gone (its "hard" ones), and what a
# suppression it reports means.
POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked"}


def postmark(body: dict[str, Any], authorization: str | None, credentials: str) -> Verified:
    given = _basic(authorization)
    if given is None or not hmac.compare_digest(given.encode(), credentials.encode()):
        raise Refused("wrong or missing credentials")
    record = str(body.get("RecordType", ""))
    email = _email(body.get("Email") or body.get("Recipient"))
    if email is None:
        return Verified([Read(OTHER, reason=f"Postmark {record or 'notification'} without a recipient")])
    kind = str(body.get("Type", ""))
    if record == "SpamComplaint" or kind == "SpamComplaint":
        return Verified([Read(COMPLAINT, email, "spam complaint (Postmark)")])
    if record == "Bounce":
        detail = " ".join(str(body.get("Details") or body.get("Description") or kind).split())
        if kind in POSTMARK_HARD:
            return Verified([Read(BOUNCE, email, f"{kind}: {detail}" if detail else kind)])
        return Verified([Read(SOFT, email, f"{kind}: {detail}")])
    if record == "SubscriptionChange" and body.get("SuppressSending"):
        reason = str(body.get("SuppressionReason", ""))
        kind_of = {"HardBounce": BOUNCE, "SpamComplaint": COMPLAINT}.get(reason, UNSUBSCRIBE)
        return Verified([Read(kind_of, email, f"suppressed by Postmark ({reason or 'unsubscribed'})")])
    return Verified([Read(OTHER, email, f"Postmark {record}: nothing to do")])


def _basic(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


# --- Mailgun -----------------------------------------------------------------------------------


def mailgun(body: dict[str, Any], key: str, now: float) -> Verified:
    signature = json_object(body.get("signature"))
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not (timestamp.isdigit() and token and hmac.compare_digest(expected, given)):
        raise Refused("the signature does not match the signing key")
    if abs(now - int(timestamp)) > MAILGUN_MAX_AGE:
        raise Refused("the signature is too old (a replay?)")
    event = json_object(body.get("event-data"))
    name = str(event.get("event", ""))
    email = _email(event.get("recipient"))
    if email is None:
        return Verified([Read(OTHER, reason=f"Mailgun {name or 'event'} without a recipient")], token=token)
    if name == "failed":
        status = json_object(event.get("delivery-status"))
        code = status.get("code") if isinstance(status.get("code"), int) else None
        detail = " ".join(
            str(status.get("message") or status.get("description") or event.get("reason", "")).split()
        )
        kind = BOUNCE if event.get("severity") == "permanent" else SOFT
        return Verified([Read(kind, email, f"{code or ''} {detail}".strip(), code)], token=token)
    if name == "complained":
        return Verified([Read(COMPLAINT, email, "spam complaint (Mailgun)")], token=token)
    if name == "unsubscribed":
        return Verified([Read(UNSUBSCRIBE, email, "unsubscribed through Mailgun")], token=token)
    return Verified([Read(OTHER, email, f"Mailgun {name}: nothing to do")], token=token)


# --- Amazon SES through SNS ------------------------------------------------------------------

# The fields SNS signs, in order, for each kind of message.
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}


def sns_string_to_sign(body: dict[str, Any]) -> bytes:
    kind = str(body.get("Type", ""))
    fields = _SIGNED[kind]
    return "".join(f"{name}\n{body[name]}\n" for name in fields if name in body).encode()


def ses(body: dict[str, Any], topics: list[str], certificate: Callable[[str], bytes]) -> Verified:
    """`certificate(url)`: the PEM at an SNS certificate URL (fetched, and cached, by the caller)."""
    kind = str(body.get("Type", ""))
    if kind not in _SIGNED:
        raise Refused(f"not an SNS message ({kind or 'no Type'})")
    if body.get("TopicArn") not in topics:
        raise Refused(f"topic {body.get('TopicArn')!r} is not in webhooks.ses_topics")
    url = str(body.get("SigningCertURL", ""))
    if not sns_url(url, certificate=True):
        raise Refused("the signing certificate is not on an SNS host")
    try:
        pem = certificate(url)
    except Refused:
        raise
    except Exception as exc:  # an unreachable host, a refusal, a body past the cap: a forgery's
        raise Refused(f"the signing certificate could not be fetched ({type(exc).__name__})") from None
    _verify_rsa(pem, sns_string_to_sign(body), str(body.get("Signature", "")),
                str(body.get("SignatureVersion", "1")))  # fmt: skip
    if kind != "Notification":
        subscribe = str(body.get("SubscribeURL", ""))
        if kind == "SubscriptionConfirmation" and sns_url(subscribe, certificate=False):
            return Verified([], subscribe_url=subscribe)
        return Verified([])
    try:
        message = json.loads(str(body.get("Message", "")))
    except ValueError:
        return Verified([Read(OTHER, reason="an SES notification whose message is not JSON")])
    return Verified(_ses_findings(json_object(message)))


def _ses_findings(message: dict[str, Any]) -> list[Read]:
    kind = message.get("notificationType") or message.get("eventType")
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        out = []
        for recipient in bounce.get("bouncedRecipients") or []:
            email = _email(recipient.get("emailAddress"))
            if email:
                detail = " ".join(
                    str(recipient.get("diagnosticCode") or recipient.get("status") or "").split()
                )
                code = int(m.group(1)) if (m := re.search(r"\b([45]\d\d)\b", detail)) else None
                out.append(
                    Read(
                        BOUNCE if permanent else SOFT, email, detail or bounce.get("bounceSubType", ""), code
                    )
                )
        return out
    if kind == "Complaint":
        complaint = message.get("complaint") or {}
        return [
            Read(COMPLAINT, email, f"spam complaint (SES: {complaint.get('complaintFeedbackType', 'abuse')})")
            for r in complaint.get("complainedRecipients") or []
            if (email := _email(r.get("emailAddress")))
        ]
    return [Read(OTHER, reason=f"SES {kind}: nothing to do")]


def _verify_rsa(pem: bytes, data: bytes, signature: str, version: str) -> None:
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise Refused(
            f"checking SNS signatures needs the cryptography package: {install_hint('ses')}"
        ) from None
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
        if not isinstance(key, rsa.RSAPublicKey):  # SNS signs with RSA only
            raise TypeError("not an RSA key")
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        key.verify(base64.b64decode(signature), data, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise Refused(f"the SNS signature does not verify ({type(exc).__name__})") from None


def _email(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if "@" in text and " " not in text else None
