"""AWS Signature Version 4 for one JSON POST, with hmac and hashlib: what SES v2 needs, and
no SDK (boto3 and botocore are 90 MB for one request shape).

    headers = sign("POST", url, body, headers, key=..., region="eu-west-1", service="ses", now=...)

The steps are AWS's: a canonical request (method, path, sorted query, the signed headers,
the body's SHA-256), the string to sign over the date's scope, and a key derived from the
secret by the date, the region and the service. tests/test_api_backends.py checks it against
AWS's published test suite ("get-vanilla" and "get-vanilla-query-order-key-case").
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlsplit


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """`headers` with Host, X-Amz-Date (and the session token) added and the Authorization
    that signs them all. `now` is UTC."""
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {**headers, "host": parts.netloc, "x-amz-date": stamp}
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    canonical_headers = {name.lower(): " ".join(value.split()) for name, value in signed.items()}
    names = sorted(canonical_headers)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query),
            "".join(f"{name}:{canonical_headers[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), day), region), service), "aws4_request"
    )
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed
