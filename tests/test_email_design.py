"""What the email holds and how it is built: cards, the plain-text twin, the size budget,
escaping, and the layout compiled once and rendered per reader."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from mjml import mjml2html

from digest import rank
from digest.build import Builder
from digest.errors import DigestError
from digest.models import Paper, Pick, Section, Subscriber
from digest.render import HTML_TEMPLATE, Links, Renderer, card, tldr

from .conftest import ROOT
from .helpers_digest import GMAIL_CLIP, HOSTILE, READER, Page, builder, feed_link, hf_papers, message, report


def _calm(i: int, **extra) -> Paper:
    return Paper(id=f"2608.{10000 + i}", title=f"Calm paper {i}", abstract="Calm. Fine.", **extra)


# --- cards -------------------------------------------------------------------------------


def test_card_shows_three_authors_then_et_al_and_only_known_badges_and_links():
    paper = Paper(
        id="2608.12345",
        title="T",
        abstract="A.",
        authors=["A One", "B Two", "C Three", "D Four"],
        upvotes=1234,
        comments=0,
        stars=None,
        code_url="https://github.com/a/b",
    )
    c = card(paper)
    assert c.authors == "A One, B Two, C Three et al."
    assert c.badges == ["1.2k upvotes"]  # no "0 comments", no stars at all
    assert [label for label, _ in c.links] == ["Abstract", "PDF", "Code"]
    assert card(Paper(id="title:abc", title="T", abstract="A.")).links == []


def test_thumbnail_only_when_switched_on_and_only_a_picture():
    paper = _calm(1, thumbnail="https://cdn.example.org/p.png")
    assert card(paper).thumbnail is None
    assert card(paper, thumbnails=True).thumbnail == "https://cdn.example.org/p.png"
    video = _calm(2, thumbnail="https://cdn.example.org/teaser.MP4")
    assert card(video, thumbnails=True).thumbnail is None


def test_tldr_is_one_or_two_clean_sentences():
    long_first = Paper(id="x", title="t", abstract="We study $\\alpha$-decay in \\textbf{big} models. " * 8)
    assert tldr(long_first).count(".") <= 2 and "\\" not in tldr(long_first) and "$" not in tldr(long_first)
    short = Paper(id="x", title="t", abstract="We use e.g. tricks. It works well. A third one. A fourth.")
    assert tldr(short) == "We use e.g. tricks. It works well."
    summary = Paper(id="x", title="t", abstract="Long abstract. " * 50, summary="**Bold** claim.")
    assert tldr(summary) == "Bold claim."


# --- the plain-text twin -----------------------------------------------------------------


def test_text_twin_follows_the_html_order_with_numbered_footnotes(shared_fixtures):
    msg = message(hf_papers(shared_fixtures))
    html_links = [a.get("href") for a in Page(msg.rendered.html).all("a")]
    text = msg.rendered.text
    header = r"TRENDING PAPERS\nFriday 14 August 2026\n20 trending papers in \d+ themes\n\nIn this issue:\n"
    assert re.match(header, text)
    footnotes = dict(re.findall(r"^\[(\d+)\] (https?://\S+)$", text, re.M))
    body = text.split("\nLinks:\n")[0]
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", body)]
    # footnotes are numbered in reading order; a link two papers share keeps its first number
    assert list(footnotes) == [str(n) for n in range(1, len(footnotes) + 1)]
    assert (
        sorted(set(numbers)) == sorted(set(numbers), key=numbers.index) == list(range(1, len(footnotes) + 1))
    )
    # the same links as the HTML, in the same order; the reader's feedback page once per paper,
    # where the HTML has its "more" and "less" links
    refs = [footnotes[str(n)] for n in numbers]
    paper_links = [h for h in html_links if "token=" not in h and "/issues/" not in h]
    assert paper_links == [r for r in refs if "/feedback?" not in r]
    feedback = [h.split("&vote=")[0] for h in html_links if "/feedback?" in h]
    assert feedback[::2] == feedback[1::2] == [r for r in refs if "/feedback?" in r]
    assert len(feedback) == 2 * len(msg.picks)
    for line in body.splitlines():
        assert len(line) <= 72 or "://" in line, line


# --- size and safety ---------------------------------------------------------------------


def test_a_20_paper_digest_stays_under_gmails_clip(shared_fixtures, capsys):
    msg = message(hf_papers(shared_fixtures), thumbnails=True)
    size = len(msg.rendered.html.encode())
    report(capsys, f"HTML for {len(msg.picks)} papers with thumbnails and reasons: {size / 1024:.1f} KB")
    assert len(msg.picks) == 20 and any(p.reason for p in msg.picks)
    assert size < GMAIL_CLIP


def test_the_worst_case_digest_stays_under_gmails_clip(capsys):
    """20 papers, each alone in its theme, every field at its longest: the most markup the
    layout can produce for 20 papers."""
    long_words = " ".join(["Transformers"] * 40)
    papers = [
        Paper(
            id=f"2608.{20000 + i}",
            title=long_words,
            abstract=(long_words + ". ") * 10,
            authors=[f"Author Withalongname{i}{j}" for j in range(8)],
            organization="The Institute of Very Long Organisation Names",
            url=f"https://huggingface.co/papers/2608.{20000 + i}",
            code_url=f"https://github.com/some-organisation/a-rather-long-repository-name-{i}",
            project_url=f"https://some-organisation.github.io/a-rather-long-project-page-{i}/",
            thumbnail=f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.{20000 + i}.png",
            upvotes=1234,
            comments=56,
            stars=7890,
        )
        for i in range(20)
    ]
    b = builder(papers, thumbnails=True)
    picks = [
        Pick(p, 1.0, 1.0, 1.0, "matches: transformers, attention; your topic: Language models")
        for p in papers
    ]
    sections = [
        Section(label=f"A long theme label number {i}", picks=[pick], key=f"t{i}")
        for i, pick in enumerate(picks)
    ]
    view = b.renderer.view(
        newsletter="Trending Papers",
        address="Trending Papers, 1 Example Street, Cambridge CB1 1AA, United Kingdom",
        issue_date=date(2026, 8, 14),
        reader=READER,
        sections=sections,
        links=b.links(READER.email),
    )
    size = len(b.renderer.render(view).html.encode())
    report(capsys, f"HTML for the worst case of 20 papers in 20 themes: {size / 1024:.1f} KB")
    assert size < GMAIL_CLIP, f"{size / 1024:.1f} KB"


def test_a_hostile_paper_is_escaped_and_its_unsafe_links_dropped():
    msg = message([HOSTILE, _calm(1), _calm(2)])
    html, text = msg.rendered.html, msg.rendered.text
    page = Page(html)
    assert not page.all("script") and not page.all("svg")
    assert page.all("img") == []
    with_thumbnails = Page(message([HOSTILE, _calm(1)], thumbnails=True).rendered.html)
    assert with_thumbnails.all("img") == []  # a javascript: thumbnail is no thumbnail
    for tag, attrs in page.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    hrefs = [a["href"] for a in page.all("a")]
    assert all(h.startswith("https://") for h in hrefs), hrefs
    assert "javascript" not in html.lower() and "data:text" not in html
    # the hostile title is shown as written, neither markup nor template
    assert HOSTILE.title in page.text
    assert "49" not in page.text and "42" not in page.text
    assert "{{ config }}" not in html  # the abstract gave way to the summary, shown instead
    assert "A summary with {{ 6*7 }} in it." in page.text
    # the same paper in the plain-text twin: literal, with the safe arXiv links only
    assert HOSTILE.title in " ".join(text.split()) and "javascript" not in text.lower()
    assert "https://arxiv.org/abs/2608.66666" in text


# --- compiled once, rendered per reader --------------------------------------------------


def _dom(html: str) -> list:
    page = Page(html)
    return [
        (tag, sorted((k, " ".join((v or "").split())) for k, v in attrs.items()))
        for tag, attrs in page.elements
    ], page.text


def test_the_layout_compiled_once_renders_what_jinja_then_mjml_would(shared_fixtures):
    """The shortcut must not change the email: render the MJML with Jinja first and compile
    it for this reader, the slow way, and compare elements, attributes and text."""
    b = builder(hf_papers(shared_fixtures), thumbnails=True)
    reader = Subscriber(email="grace@example.org", name="Grace", keywords=["agent"])
    fast = b.message(reader, b.picks(reader)).rendered
    env = b.renderer.html_env.overlay(finalize=None)
    env.filters["once"] = lambda macro, c: macro(c)
    view = b.view(reader, rank.sections(b.prepared, b.picks(reader)), b.links(reader.email))
    slow = mjml2html(env.from_string(b.renderer.html_source).render(v=view), disable_comments=True, fonts={})
    assert _dom(fast.html) == _dom(slow)


def test_cards_are_rendered_once_per_issue_and_shared_by_readers(shared_fixtures):
    b = builder(hf_papers(shared_fixtures))
    first = b.message(READER, b.picks(READER))
    fragments = {pid: dict(c.fragments) for pid, c in b.cards.items()}
    other = Subscriber(email="bob@example.org", keywords=["robot"])
    second = b.message(other, b.picks(other))
    shared = set(fragments) & {p.paper.id for p in second.picks}
    assert shared
    for pid in shared:
        for key, fragment in fragments[pid].items():
            assert b.cards[pid].fragments[key] is fragment  # reused, not rendered again
    # yet each reader gets their own reasons and footer
    assert "bob@example.org" in second.rendered.html and "bob@example.org" not in first.rendered.html
    assert first.rendered.html.count("For you") != second.rendered.html.count("For you")


def test_a_builder_for_another_day_shares_the_cards_and_writes_what_a_fresh_one_would(shared_fixtures):
    b = builder(hf_papers(shared_fixtures))
    b.message(READER, b.picks(READER))  # the first day's reader fills the cards
    day = date(2026, 8, 15)  # a reader in Tokyo is on the next day already
    dated = replace(b.issue, id=day.isoformat(), date=day)
    shared = b.for_issue(dated)
    fresh = Builder(b.config, dated, b.now, b.secret)
    got = shared.message(READER, shared.picks(READER))
    want = fresh.message(READER, fresh.picks(READER))
    assert shared.cards is b.cards and shared.renderer is b.renderer and shared.prepared is b.prepared
    assert got.raw == want.raw
    assert "Saturday 15 August 2026" in got.rendered.text and "/issues/2026-08-15" in got.rendered.html
    with pytest.raises(ValueError):
        b.for_issue(replace(dated, papers=dated.papers[:3]))


def test_the_html_is_ascii_whatever_the_papers_say():
    paper = Paper(
        id="2608.1",
        title="Über 𝛼 — ok",
        abstract="A.",
        authors=["Ivan Vulić", "Zoë Ångström"],
        organization="ETH",
    )
    html = message([paper, _calm(2)]).rendered.html
    assert html.isascii()
    page = Page(html)
    assert "Ivan Vulić, Zoë Ångström" in page.text and "Über 𝛼 — ok" in page.text


# --- templates ---------------------------------------------------------------------------


@pytest.fixture
def overrides(tmp_path):
    folder = tmp_path / "my-templates"
    folder.mkdir()
    return folder


def _layout_with(overrides, old: str, new: str) -> None:
    source = (ROOT / "templates" / HTML_TEMPLATE).read_text()
    assert old in source
    (overrides / HTML_TEMPLATE).write_text(source.replace(old, new, 1))


def test_an_override_folder_replaces_only_the_files_it_holds(overrides):
    _layout_with(overrides, ">Manage preferences<", ">Your settings<")
    msg = message([_calm(1), _calm(2)], templates=overrides)
    assert "Your settings" in msg.rendered.html and "Manage preferences" not in msg.rendered.html
    assert "Manage preferences:" in msg.rendered.text  # the shipped text template still answers


@pytest.mark.parametrize(
    "old, new, says",
    [
        ("{% if v.n_themes > 1 %}", "{% if 1 < v.n_themes %}", ":\\d+: `<` inside the Jinja tag"),
        (
            '<mj-section padding="32px 20px 20px"',
            '<mj-sektion padding="32px 20px 20px"',
            "MJML cannot parse|:\\d+: unknown MJML element <mj-sektion>",
        ),
        ('width="600px"', 'width="{{ v.width }}"', ":\\d+: MJML dropped or changed {{ v.width }}"),
        (
            '<mj-text>\n          <div class="ac"',
            '<mj-txt>\n          <div class="ac"',
            ":\\d+: unknown MJML element <mj-txt>",
        ),
        ("{{ v.date_text }}", "{{ v.date_text }", ":\\d+: template error"),
    ],
)
def test_a_broken_layout_fails_at_build_time_naming_file_and_line(overrides, old, new, says):
    _layout_with(overrides, old, new)
    with pytest.raises(DigestError) as raised:
        Renderer(overrides)
    problems = "\n".join(raised.value.problems)
    assert str(overrides / HTML_TEMPLATE) in problems
    assert re.search(says, problems), problems


def test_the_web_page_footer_offers_subscribing_instead_of_unsubscribing():
    renderer = Renderer()
    picks = [Pick(_calm(1), 1.0, 1.0, 0.0)]
    view = renderer.view(
        newsletter="Trending Papers",
        address=None,
        issue_date=date(2026, 8, 14),
        reader=None,
        sections=[Section("Language models", picks, "llm")],
        links=Links(
            web="https://p.example.org/issues/2026-08-14",
            subscribe="https://p.example.org/subscribe",
            archive="https://p.example.org/issues",
            feed="https://p.example.org/issues/feed.xml",
        ),
    )
    page = Page(renderer.render(view).html)
    assert "Unsubscribe" not in page.text and "Subscribe by email" in page.text
    assert feed_link("https://p.example.org") in page.all("link")


def test_a_broken_layout_stops_send_before_anything_is_delivered(project, cli):
    folder = project / "my-templates"
    folder.mkdir()
    _layout_with(folder, "<mj-text>", "<mj-txt>")
    config = project / "digest.yaml"
    config.write_text(config.read_text() + "\ntemplates: my-templates\n")
    result = cli("send", "--now", "2026-11-26T07:00:00+00:00", cwd=project)
    assert result.returncode == 2
    assert "my-templates/digest.mjml.j2:" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "outbox").exists() and not (project / "archive").exists()
