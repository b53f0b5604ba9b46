"""Signed tokens for the links in every email: unsubscribe, preferences.

itsdangerous signs with HMAC and compares in constant time. Each purpose has its own salt,
so a preferences token cannot be replayed as an unsubscribe token.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer


def sign(secret: str, purpose: str, email: str) -> str:
    return URLSafeSerializer(secret, salt=f"digest.{purpose}").dumps(email.lower())


def verify(secret: str, purpose: str, token: str) -> str | None:
    """The address a token was made for, or None if it is forged or for another purpose."""
    try:
        value = URLSafeSerializer(secret, salt=f"digest.{purpose}").loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None
