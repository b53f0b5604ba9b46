"""Signed tokens for the links in every email (unsubscribe, preferences) and for the
confirmation link of a new subscription, which expires.

Tokens are itsdangerous's URL-safe format: HMAC-SHA1 under a key derived from the secret and
the purpose's salt, compared in constant time. Each purpose has its own salt, so a
preferences token cannot be replayed as an unsubscribe token. A send signs several links per
reader, so short payloads are signed here with `hmac` directly, the same bytes itsdangerous
makes (tests/test_tokens.py compares both), without its per-call signer and key derivation;
itsdangerous verifies, and signs the long payloads it would compress.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

# `digest doctor` posts a one-click unsubscribe signed for this address: the web app answers
# it as it would a reader's and changes nothing (.invalid never exists: RFC 2606).
DOCTOR_ADDRESS = "doctor-check@digest.invalid"


def sign(secret: str, purpose: str, email: str) -> str:
    return _dumps(secret, purpose, email.lower())


def _dumps(secret: str, purpose: str, obj: Any) -> str:
    """`_serializer(secret, purpose).dumps(obj)`, byte for byte, for a short payload."""
    text = _json(obj).encode()
    if len(text) >= SHORT_PAYLOAD:
        return _serializer(secret, purpose).dumps(obj)
    payload = _b64(text)
    mac = _mac(secret, purpose).copy()
    mac.update(payload)
    return (payload + b"." + _b64(mac.digest())).decode()


def _b64(data: bytes) -> bytes:
    """itsdangerous's base64: URL-safe, without padding (base64.urlsafe_b64encode, less its layers)."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _json(obj: Any) -> str:
    """Compact JSON as itsdangerous writes it; a string, or a list of strings, that JSON
    writes as it is (no quote, backslash or control character) without the encoder."""
    if isinstance(obj, str) and _AS_IS.fullmatch(obj):
        return f'"{obj}"'
    if isinstance(obj, list) and all(isinstance(v, str) and _AS_IS.fullmatch(v) for v in obj):
        return "[" + ",".join(f'"{v}"' for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_AS_IS = re.compile(r'[^"\\\x00-\x1f]*')  # what json.dumps(ensure_ascii=False) leaves alone


@functools.lru_cache(maxsize=16)
def _mac(secret: str, purpose: str) -> hmac.HMAC:
    """itsdangerous's signer for the purpose: HMAC-SHA1 keyed with SHA1(salt + "signer" +
    secret) ("django-concat" derivation), its key set up once and copied per token."""
    key = hashlib.sha1(f"digest.{purpose}".encode() + b"signer" + secret.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha1)


class _Serializer(URLSafeSerializer):
    """URL-safe tokens that skip itsdangerous's try at zlib for a short payload, which never
    comes out shorter: a send signs a link per paper per reader, and the try was 5% of it.
    Tokens it made before, compressed or not, still verify."""

    def dump_payload(self, obj: Any) -> bytes:
        json = Serializer.dump_payload(self, obj)
        return base64_encode(json) if len(json) < SHORT_PAYLOAD else super().dump_payload(obj)


SHORT_PAYLOAD = 96  # bytes of JSON: an address and a paper id


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    """Made once per secret and purpose: a send signs links for every reader."""
    return _Serializer(secret, salt=f"digest.{purpose}")


def verify(secret: str, purpose: str, token: str) -> str | None:
    """The address a token was made for, or None if it is forged or for another purpose."""
    try:
        value = _serializer(secret, purpose).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


# --- what the inbox trusts: keyed tags --------------------------------------------------------
#
# Each reader's messages go out with their own envelope sender, bounces+<tag>@domain, a
# Message-ID that carries a tag, and a List-Unsubscribe mailto bounces+unsubscribe-<tag>@domain;
# each tag an HMAC of the reader's address (and the issue, for the Message-ID) under
# DIGEST_SECRET, for its own purpose. A report or a mailed unsubscribe counts only when it
# carries the tag of the address it is about, checked in constant time, so nobody who does not
# know the secret can mail one that bounces or unsubscribes somebody (digest/inbox/reports.py).
# 64 bits: every guess costs the forger a mail that the inbox reads, so 2**63 mails on average.

UNSUBSCRIBE_TAG = "unsubscribe"  # the old, untagged mailto: `digest inbox` no longer acts on it
TAG_HEX = 16  # 64 bits of HMAC-SHA256
MESSAGE_TAG_HEX = 32  # in a Message-ID, where length costs nothing: 128 bits


def _tag(secret: str, purpose: str, *values: str, length: int = TAG_HEX) -> str:
    data = "\0".join((purpose, *values)).encode()
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()[:length]


def verp_tag(secret: str, email: str) -> str:
    return _tag(secret, "verp", email.lower())


def unsubscribe_tag(secret: str, email: str) -> str:
    return _tag(secret, "unsubscribe", email.lower())


def message_tag(secret: str, issue_id: str, email: str) -> str:
    return _tag(secret, "message-id", issue_id, email.lower(), length=MESSAGE_TAG_HEX)


def same_tag(expected: str, given: str) -> bool:
    """Constant time: a forger learns nothing from how long a wrong tag took to refuse."""
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def plus_address(address: str, tag: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}+{tag}@{domain}"


def verp_address(address: str, secret: str, email: str) -> str:
    return plus_address(address, verp_tag(secret, email))


def unsubscribe_address(address: str, secret: str, email: str) -> str:
    """The reader's own List-Unsubscribe mailto: the address is the proof, whoever mails it."""
    return plus_address(address, f"{UNSUBSCRIBE_TAG}-{unsubscribe_tag(secret, email)}")


def tag_at(address: str, inbox: str) -> str | None:
    """The tag of `address` if it is a plus address of the inbox's (`bounces+abc@x` for
    `bounces@x` -> `abc`), else None: a tag at somebody else's domain proves nothing."""
    local, _, domain = address.rpartition("@")
    inbox_local, _, inbox_domain = inbox.lower().rpartition("@")
    base, plus, tag = local.lower().partition("+")
    return tag if plus and base == inbox_local and domain.lower() == inbox_domain else None


# --- feedback links ("more / less like this" under each paper) --------------------------------


def sign_feedback(secret: str, email: str, paper_id: str) -> str:
    return _dumps(secret, "feedback", [email.lower(), paper_id])


def verify_feedback(secret: str, token: str) -> tuple[str, str] | None:
    """(address, paper id) of a feedback token, or None if it is forged or for another purpose."""
    try:
        value = _serializer(secret, "feedback").loads(token)
    except BadSignature:
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return None


# --- expiring tokens (confirmation links) ----------------------------------------------------
#
# The expiry travels inside the signed payload and the caller passes the clock in, so a test
# can make a token that expired yesterday without waiting and the check stays a pure function.


def sign_expiring(
    secret: str, purpose: str, email: str, expires: datetime, issued: datetime | None = None
) -> str:
    """`issued`: when the link was asked for (a confirmation older than the reader's
    unsubscribe no longer works: digest/readers/subscribers.py)."""
    payload = {"e": email.lower(), "x": int(expires.timestamp())}
    if issued is not None:
        payload["i"] = int(issued.timestamp())
    return _serializer(secret, purpose).dumps(payload)


class LinkProblem(StrEnum):
    """Why a link from an email or a page does not work."""

    INVALID = "invalid"  # forged, cut or changed
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the address is no longer on the list
    STALE = "stale"  # made before the reader unsubscribed
    REFUSED = "refused"  # the address bounced: the list will not take it


@dataclass(frozen=True)
class Verified:
    """The outcome of checking an expiring token: the address, or why there is none."""

    email: str | None
    problem: LinkProblem | None = None  # INVALID or EXPIRED
    expires: datetime | None = None
    issued: datetime | None = None  # None for a token made without it


def verify_expiring(secret: str, purpose: str, token: str, now: datetime) -> Verified:
    try:
        value = _serializer(secret, purpose).loads(token)
    except BadSignature:
        return Verified(None, LinkProblem.INVALID)
    if not (isinstance(value, dict) and isinstance(value.get("e"), str) and isinstance(value.get("x"), int)):
        return Verified(None, LinkProblem.INVALID)
    if now.timestamp() >= value["x"]:
        return Verified(None, LinkProblem.EXPIRED)
    issued = value.get("i")
    return Verified(
        value["e"],
        expires=datetime.fromtimestamp(value["x"], UTC),
        issued=datetime.fromtimestamp(issued, UTC) if isinstance(issued, int) else None,
    )
