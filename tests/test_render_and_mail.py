"""What reaches the reader: escaped HTML, one-line headers, safe links, a plain-text twin."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from digest import config as config_mod
from digest.compose.build import Builder, make_issue
from digest.compose.render import safe_url, tldr
from digest.issue import themes
from digest.models import Paper, Subscriber

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
HOSTILE = "<script>x</script> </mj-text> {{ 7*7 }}"


def _builder(project, papers):
    config = config_mod.load(project / "digest.yaml")
    issue = make_issue(papers, NOW, "UTC", themes.load_taxonomy())
    return Builder(config, issue, NOW, "test-secret")


def _paper(i, **extra):
    base = {"id": f"2611.{i:05d}", "title": f"Paper {i} on retrieval", "abstract": "We retrieve. It works."}
    return Paper(**{**base, **extra})


def test_hostile_title_is_escaped_and_literal_in_html_and_text(project):
    papers = [_paper(1, title=HOSTILE, code_url="javascript:alert(1)"), _paper(2)]
    builder = _builder(project, papers)
    reader = Subscriber(email="ada@example.org")
    message = builder.message(reader, builder.picks(reader))
    html = message.rendered.html
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt; &lt;/mj-text&gt; {{ 7*7 }}" in html
    assert "49" not in html.replace("2611", "")
    assert "javascript:" not in html
    # the text part carries the title as written, never evaluated
    assert HOSTILE in message.rendered.text


def test_cr_lf_in_title_or_name_never_reaches_a_header(project):
    papers = [_paper(1, title="Evil\r\nBcc: victim@example.com\r\nX-Injected: 1"), _paper(2)]
    builder = _builder(project, papers)
    reader = Subscriber(email="ada@example.org", name="Ada\r\nBcc: victim@example.com")
    message = builder.message(reader, builder.picks(reader))
    raw = message.raw
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    for line in header_block.split(b"\r\n"):
        assert not line.lower().startswith((b"bcc:", b"x-injected:"))


def test_message_has_both_parts_and_every_list_header(project):
    builder = _builder(project, [_paper(i) for i in range(1, 21)])
    reader = Subscriber(email="ada@example.org", name="Ada")
    message = builder.message(reader, builder.picks(reader))
    parsed = message_from_bytes(message.raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in parsed.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert parsed[header], header
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://papers.example.org/unsubscribe?token=" in parsed["List-Unsubscribe"]
    # a resend of the same issue to the same reader carries the same Message-ID
    again = builder.message(reader, builder.picks(reader))
    assert again.envelope.message_id == message.envelope.message_id == parsed["Message-ID"]


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://arxiv.org/abs/2401.00001", True),
        ("http://example.org/x?y=1", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("//evil.example.org/x", False),
        ("/relative/path", False),
        ('https://example.org/"onerror="x', False),
    ],
)
def test_only_absolute_http_links_survive(url, ok):
    assert (safe_url(url) is not None) is ok


def test_tldr_prefers_the_sources_summary_and_strips_markup():
    paper = Paper(id="x", title="t", abstract="We **propose** X. It is good. " * 20)
    assert "**" not in tldr(paper) and len(tldr(paper)) <= 320
    assert tldr(Paper(id="x", title="t", abstract="long", summary="Short summary.")) == "Short summary."
