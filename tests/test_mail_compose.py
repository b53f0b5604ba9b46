"""The wire format `compose` writes by hand: what a mail parser reads back is exactly what was
rendered, every line fits SMTP, and headers stay headers."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from digest.compose.mail import MAX_LINE, Envelope, _lines_fit, compose
from digest.compose.render import Rendered

from .helpers_digest import hf_papers, message

NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
ENVELOPE = Envelope(
    sender="Trending Papers <papers@example.org>",
    to_email="ada@example.org",
    to_name="Ada Lovelace",
    issue_id="2026-08-14",
    list_name="Trending Papers",
    unsubscribe_url="https://papers.example.org/unsubscribe?token=abc",
    message_tag="0123456789abcdef0123456789abcdef",
)


def _parts(raw: bytes):
    parsed = message_from_bytes(raw, policy=policy.default)
    text, html = parsed.iter_parts()
    return parsed, text, html


def _wire_lines(raw: bytes) -> list[bytes]:
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"
    return raw.split(b"\r\n")


def test_a_real_digest_reads_back_exactly_as_rendered(shared_fixtures):
    msg = message(hf_papers(shared_fixtures))
    parsed, text, html = _parts(msg.raw)
    assert html.get_content_type() == "text/html" and html["Content-Transfer-Encoding"] == "7bit"
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == msg.rendered.html.rstrip("\n")
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == msg.rendered.text.rstrip("\n")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert parsed["Subject"] == msg.rendered.subject
    assert max(len(line) for line in _wire_lines(msg.raw)) <= MAX_LINE


def test_non_ascii_names_and_subjects_are_encoded_and_read_back():
    rendered = Rendered(subject="Trending Papers: Über 𝛼 — ça va", html="<p>Zoë</p>", text="Zoë\nÅngström")
    envelope = replace(ENVELOPE, to_name="Zoë Ångström", sender="Trés Papers <p@example.org>")
    raw = compose(rendered, envelope, NOW)
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    parsed, text, html = _parts(raw)
    assert parsed["Subject"] == rendered.subject
    assert parsed["To"].addresses[0].display_name == "Zoë Ångström"
    assert parsed["From"].addresses[0].display_name == "Trés Papers"
    assert text.get_content().replace("\r\n", "\n") == "Zoë\nÅngström"
    assert html.get_content().strip() == "<p>Zo&#235;</p>"  # 7bit ASCII; a browser shows Zoë


def test_a_line_too_long_for_smtp_switches_the_part_to_base64():
    long_line = "<p>" + "x" * 1200 + "</p>"
    raw = compose(Rendered("s", long_line, "short"), ENVELOPE, NOW)
    assert all(len(line) <= MAX_LINE for line in _wire_lines(raw))
    _, text, html = _parts(raw)
    assert html["Content-Transfer-Encoding"] == "base64" and text["Content-Transfer-Encoding"] == "7bit"
    assert html.get_content().strip() == long_line


def test_a_body_that_contains_the_boundary_gets_another_one():
    first = compose(Rendered("s", "<p>x</p>", "x"), ENVELOPE, NOW)
    boundary = message_from_bytes(first, policy=policy.default).get_boundary()
    crafted = Rendered("s", f"<p>x</p>\n--{boundary}\nContent-Type: text/html\n\n<script>", "x")
    parsed, _, html = _parts(compose(crafted, ENVELOPE, NOW))
    assert parsed.get_boundary() != boundary
    assert len(list(parsed.iter_parts())) == 2
    assert "<script>" in html.get_content()  # still inside the HTML part, where it was put


def test_headers_carry_the_list_and_unsubscribe_fields_on_one_line_each():
    raw = compose(Rendered("s", "<p>x</p>", "x"), ENVELOPE, NOW)
    header_lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    names = [line.split(b":", 1)[0] for line in header_lines]
    assert names == [
        b"From",
        b"To",
        b"Subject",
        b"Date",
        b"Message-ID",
        b"List-Id",
        b"List-Unsubscribe",
        b"List-Unsubscribe-Post",
        b"Feedback-ID",
        b"Precedence",
        b"MIME-Version",
        b"Content-Type",
    ]
    # no mailto: nobody reads a mailbox for it unless `inbox:` is set (digest inbox)
    assert b"List-Unsubscribe: <https://papers.example.org/unsubscribe?token=abc>" in header_lines
    assert b"Precedence: bulk" in header_lines
    assert any(
        line.startswith(b"Feedback-ID: 2026-08-14:") and line.endswith(b":digest:example.org")
        for line in header_lines
    )


def test_with_an_inbox_the_mailto_goes_to_it_and_bounces_to_the_readers_own_return_path():
    envelope = replace(
        ENVELOPE,
        return_path="bounces+3f2a9c@example.org",
        unsubscribe_mailto="bounces+unsubscribe@example.org",
    )
    raw = compose(Rendered("s", "<p>x</p>", "x"), envelope, NOW)
    assert (
        b"List-Unsubscribe: <https://papers.example.org/unsubscribe?token=abc>, "
        b"<mailto:bounces+unsubscribe@example.org?subject=unsubscribe>"
    ) in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@pytest.mark.parametrize("seed", range(5))
def test_the_quick_line_length_check_agrees_with_splitting_into_lines(seed):
    rng = random.Random(seed)
    lengths = [0, 1, 498, 499, 500, 997, 998, 999, 1000, 1996, 3000]
    for _ in range(400):
        data = b"\n".join(b"x" * rng.choice(lengths) for _ in range(rng.randint(1, 6)))
        assert _lines_fit(data) == (max(map(len, data.split(b"\n"))) <= MAX_LINE), data.count(b"x")
