"""Tokens signed with hmac directly are the bytes itsdangerous makes, and verify as before."""

from __future__ import annotations

import random

from digest.compose import tokens


def _addresses(n: int) -> list[str]:
    rng = random.Random(27)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-'é中"
    out = ["a@b.c", "Ada.Lovelace+news@Example.ORG", "josé@exämple.org", "x" * 60 + "@example.org"]
    out += ['"quoted local"@example.org', "back\\slash@example.org", "tab\there@example.org", "\x01@x.org"]
    for _ in range(n):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 70)))
        out.append(f"{local}@{''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))}.org")
    return out


def test_signed_tokens_are_byte_identical_to_itsdangerous_for_every_purpose_and_length():
    secrets = ["s", "a-long-secret-0123456789-" * 3, "sécret"]
    for secret in secrets:
        for purpose in ("unsubscribe", "preferences", "confirm"):
            reference = tokens._serializer(secret, purpose)
            for email in _addresses(300):
                assert tokens.sign(secret, purpose, email) == reference.dumps(email.lower())


def test_feedback_tokens_are_byte_identical_to_itsdangerous_and_verify():
    reference = tokens._serializer("secret", "feedback")
    rng = random.Random(5)
    for email in _addresses(300):
        paper = rng.choice(["2611.01234", "hf:some-paper", "feed:" + "p" * rng.randint(1, 80)])
        token = tokens.sign_feedback("secret", email, paper)
        assert token == reference.dumps([email.lower(), paper])
        assert tokens.verify_feedback("secret", token) == (email.lower(), paper)


def test_a_token_for_one_purpose_or_secret_does_not_verify_for_another():
    token = tokens.sign("secret", "preferences", "Ada@Example.org")
    assert tokens.verify("secret", "preferences", token) == "ada@example.org"
    assert tokens.verify("secret", "unsubscribe", token) is None
    assert tokens.verify("other", "preferences", token) is None
