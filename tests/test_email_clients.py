"""The email's markup against caniemail.com's support data for Gmail and Outlook: spacing only
where those clients honour it (table cells, <p> margins), so papers do not run together in
Outlook for Windows."""

from __future__ import annotations

import pytest

from .helpers_caniemail import INSTALL, load, violations
from .helpers_digest import READER, builder, hf_papers, report


@pytest.fixture(scope="module")
def caniemail():
    data = load()
    if data is None:
        pytest.skip(f"caniemail data not installed: {INSTALL} (.ci/run does it)")
    return data


def test_the_20_paper_digest_spaces_nothing_gmail_or_outlook_ignores(shared_fixtures, caniemail, capsys):
    b = builder(hf_papers(shared_fixtures), thumbnails=True)
    msg = b.message(READER, b.picks(READER))
    assert len(msg.picks) == 20
    found = violations(msg.rendered.html, caniemail)
    report(capsys, f"caniemail bar (Gmail, Outlook; padding, margin, height): {len(found)} violations")
    assert found == []


def test_the_bar_catches_padding_on_a_div_and_margin_on_a_span(caniemail):
    html = '<div style="padding:20px 0"><span style="margin-left:4px">x</span></div><td style="padding:4px">'
    found = violations(html, caniemail)
    assert any(line.startswith("padding on <div>") and "outlook windows" in line for line in found), found
    assert any(line.startswith("margin on <span>") and "outlook windows" in line for line in found), found
    assert not any("on <td>" in line for line in found), found
