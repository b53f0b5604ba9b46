"""Headers as a mail server and a mail client see them: the subject from its template, and
no value, however hostile or long, folded over lines or able to start a header of its own."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest

from digest.compose.mail import MAX_LINE, compose
from digest.compose.render import Rendered, subject_line
from digest.models import Paper, Pick, Section

from .helpers_smtp import NOW, write_project
from .test_mail_compose import ENVELOPE
from .test_mail_compose import NOW as WHEN


def _sections(label: str, n: int, title: str = "t") -> list[Section]:
    picks = [Pick(Paper(id=f"p{i}", title=title, abstract="a"), 1.0 - i / 100, 1.0, 0.0) for i in range(n)]
    return [Section(label=label, picks=picks)]


def _header_lines(raw: bytes) -> list[str]:
    return raw.split(b"\r\n\r\n", 1)[0].decode("utf-8").split("\r\n")


def _display_name(lines: list[str]) -> str:
    """The To name as RFC 2047 reads it. (Python's address parser keeps the space between
    two encoded words inside a name, which the RFC says to drop; mail clients drop it.)"""
    (to,) = [line for line in lines if line.startswith("To: ")]
    phrase = to.removeprefix("To: ").rsplit(" <", 1)[0]
    name = str(make_header(decode_header(phrase)))
    return name[1:-1].replace('\\"', '"') if name.startswith('"') else name


def test_the_subject_template_names_the_date_and_the_lead_theme():
    template = "{weekday} {date}: {count} new, mostly {lead_theme} ({name})"
    subject = subject_line("Trending Papers", date(2026, 8, 14), _sections("Agents", 7), template)
    assert subject == "Friday 14 Aug: 7 new, mostly Agents (Trending Papers)"


def test_the_default_subject_names_the_lead_paper_and_counts_the_rest():
    title = "Self-Forcing++: Towards Minute-Scale High-Quality Video Generation"
    day = date(2026, 8, 14)

    def subject(n: int) -> str:
        return subject_line("News", day, _sections("Video", n, title))

    assert subject(20) == "Self-Forcing++ and 19 more trending papers"
    assert subject(2) == "Self-Forcing++ and 1 more trending paper"
    # alone in its issue, the paper has the subject to itself: its whole title
    assert subject(1) == title
    # a bare acronym before the colon says nothing: the title, cut before a dangling word
    acronym = "MBA: Multi-Bit Adapters for Efficient Adaptation of Language Models at Scale"
    assert subject_line("News", day, _sections("Video", 3, acronym)) == (
        "MBA: Multi-Bit Adapters for Efficient Adaptation… and 2 more trending papers"
    )
    # no colon: the title itself, cut on a word when it is long
    plain = "Scaling " + "very " * 20 + "large models"
    subject = subject_line("News", day, _sections("Video", 3, plain))
    assert subject.startswith("Scaling very") and subject.endswith("… and 2 more trending papers")
    assert len(subject) < 100


def test_a_theme_label_with_line_breaks_stays_inside_the_subject():
    template = "{name}: {lead_theme}"
    sections = _sections("Agents\r\nBcc: victim@example.org", 2)
    subject = subject_line("News", date(2026, 8, 14), sections, template)
    raw = compose(Rendered(subject=subject, html="<p>x</p>", text="x"), ENVELOPE, WHEN)
    names = [line.split(":", 1)[0] for line in _header_lines(raw)]
    assert "Bcc" not in names
    assert message_from_bytes(raw, policy=policy.default)["Subject"].endswith(
        "Agents Bcc: victim@example.org"
    )


def test_a_paper_title_with_line_breaks_stays_inside_the_subject():
    sections = _sections("Agents", 2, "Evil\r\nBcc: victim@example.org")
    subject = subject_line("News", date(2026, 8, 14), sections)
    raw = compose(Rendered(subject=subject, html="<p>x</p>", text="x"), ENVELOPE, WHEN)
    assert "Bcc" not in [line.split(":", 1)[0] for line in _header_lines(raw)]
    assert message_from_bytes(raw, policy=policy.default)["Subject"].startswith("Evil Bcc")


@pytest.mark.parametrize(
    ("subject", "to_name"),
    [
        ("Trending Papers, 14 Aug: 20 papers, led by " + "Large language models " * 8, "Ada Lovelace"),
        ("Über große Sprachmodelle — " * 10, "Zoë Ångström-Åkesson " * 6),
        ("line one\nline two\r\n\tline three", "Ada\r\nBcc: x@example.org"),
        ("𝛼" * 3000, "名前" * 2000),  # absurdly long: shortened to fit a line, never folded
    ],
)
def test_headers_are_never_folded_fit_a_line_and_read_back(subject, to_name):
    envelope = replace(ENVELOPE, to_name=to_name)
    raw = compose(Rendered(subject=subject, html="<p>x</p>", text="x"), envelope, WHEN)
    lines = _header_lines(raw)
    assert all(line[:1] not in (" ", "\t") for line in lines), "a folded header"
    assert all(len(line.encode()) <= MAX_LINE for line in lines)
    assert all(":" in line for line in lines) and not any(line.startswith("Bcc") for line in lines)
    parsed = message_from_bytes(raw, policy=policy.default)
    flat_subject, flat_name = " ".join(subject.split()), " ".join(to_name.split())
    if len(flat_subject) < 300:
        assert parsed["Subject"] == flat_subject
        assert _display_name(lines) == flat_name
    else:
        assert flat_subject.startswith(parsed["Subject"].removesuffix("..."))
        assert parsed["To"].addresses[0].addr_spec == "ada@example.org"


def test_a_one_paper_issue_is_named_by_its_title_and_never_says_1_papers(tmp_path, cli):
    write_project(tmp_path, url="file://outbox", readers=1, newsletter='  subject: "{lead} ({papers})"')
    papers = (tmp_path / "papers.jsonl").read_text().splitlines()
    title = "MBA: Multi-Bit Adapters for Efficient Language Model Adaptation"
    (tmp_path / "papers.jsonl").write_text(papers[0].replace(json.loads(papers[0])["title"], title) + "\n")
    preview = cli("preview", "--out", "preview", cwd=tmp_path)
    dry = cli("send", "--dry-run", "--now", NOW, cwd=tmp_path)
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (eml,) = (tmp_path / "outbox").glob("*/*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Subject"] == f"{title} (1 paper)"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for said in (html, text, dry.stdout + dry.stderr, preview.stdout):
        assert re.search(r"\b1 (?:trending )?paper\b", said), said
    for said in (html, text, message["Subject"], result.stdout + result.stderr, dry.stdout + dry.stderr,
                 preview.stdout + preview.stderr):  # fmt: skip
        assert not re.search(r"\b1 (?:trending )?papers\b", said), said


def test_a_configured_subject_reaches_the_sent_message(tmp_path, cli):
    write_project(
        tmp_path, url="file://outbox", readers=1, newsletter='  subject: "{name} for {weekday}: {papers}"'
    )
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (eml,) = (tmp_path / "outbox").glob("*/*.eml")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["Subject"] == (
        "Test Papers for Thursday: 10 papers"
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{name} {nope}", "unknown field {nope}"),
        ("{name.__class__}", "unknown field {name.__class__}"),
        ("{count:q}", "Unknown format code 'q'"),
        ("{name", "write literal braces as {{ and }}"),
    ],
)
def test_a_bad_subject_template_is_a_usage_error(tmp_path, cli, template, expected):
    write_project(tmp_path, url="file://outbox", readers=1, newsletter=f"  subject: '{template}'")
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr and "digest.yaml:6" in result.stderr
