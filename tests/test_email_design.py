"""What the email holds and how it is built: cards, the plain-text twin, the size budget,
escaping, and the layout compiled once and rendered per reader."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from mjml import mjml2html

from digest.compose.build import CLIP_GUARD, Builder
from digest.compose.render import HTML_TEMPLATE, Links, Renderer, card, tldr
from digest.errors import DigestError
from digest.issue import rank
from digest.models import Paper, Pick, Section, Subscriber

from .conftest import ROOT
from .helpers_digest import (
    GMAIL_CLIP,
    HOSTILE,
    READER,
    Page,
    builder,
    feed_link,
    hf_papers,
    html_part_bytes,
    message,
    report,
)


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


# --- the lead, the groups, the preheader ---------------------------------------------------


def _view(sections: list[Section]):
    b = builder([p.paper for s in sections for p in s.picks])
    return b.view(READER, sections, b.links(READER.email))


def _pick(i: int, score: float) -> Pick:
    return Pick(_calm(i, upvotes=10 * i), score, score, 0.0)


def test_the_best_pick_leads_and_is_not_repeated_below():
    sections = [
        Section(label="Agents", key="agents", picks=[_pick(1, 0.5), _pick(2, 0.4), _pick(3, 0.3)]),
        Section(label="Vision", key="vision", picks=[_pick(4, 0.9), _pick(5, 0.2), _pick(6, 0.1)]),
    ]
    view = _view(sections)
    assert view.lead.card.title == "Calm paper 4" and view.n_papers == 6
    below = [i.card.title for s in view.sections for i in s.items]
    assert "Calm paper 4" not in below and len(below) == 5
    html = Renderer().render(view).html
    html = html[html.index('aria-hidden="true">') :].split("</div>", 1)[1]  # the body after the preheader
    lead = html.index("Today's top paper")
    assert lead < html.index("Calm paper 4") < html.index("Calm paper 1")
    assert "40 upvotes" in html[lead : html.index("Calm paper 1")]  # its badges with it


def test_a_theme_left_with_one_paper_folds_into_more_and_the_contents_list_only_groups():
    sections = [
        Section(label="Agents", key="agents", picks=[_pick(1, 0.9), _pick(2, 0.8), _pick(3, 0.7)]),
        Section(label="Speech", key="speech", picks=[_pick(4, 0.6)]),
        # the lead's theme keeps one paper once the lead is out: it folds too
        Section(label="Robots", key="robots", picks=[_pick(5, 0.95), _pick(6, 0.5)]),
        Section(label="More trending papers", key="more", picks=[_pick(7, 0.4)]),
    ]
    view = _view(sections)
    assert [(s.label, [i.card.title for i in s.items]) for s in view.sections] == [
        ("Agents", ["Calm paper 1", "Calm paper 2", "Calm paper 3"]),
        ("More trending papers", ["Calm paper 4", "Calm paper 6", "Calm paper 7"]),
    ]
    assert [i.first for s in view.sections for i in s.items] == [True, False, False, True, False, False]
    html = Renderer().render(view).html
    assert "Speech" not in html and "Robots" not in html


def test_the_preheader_names_whole_titles_and_is_padded():
    long_titles = [_calm(i) for i in range(1, 9)]
    for i, paper in enumerate(long_titles):
        paper.title = f"A rather long title about topic number {i} that goes on"
    picks = [Pick(p, 1.0 - i / 10, 1.0, 0.0) for i, p in enumerate(long_titles)]
    view = _view([Section(label="Agents", key="agents", picks=picks)])
    titles = [p.title for p in long_titles]
    assert view.preheader.startswith(titles[0] + " + 7 more")
    named = view.preheader.split(": ", 1)[1].split("; ") if ": " in view.preheader else []
    assert named and all(t in titles for t in named)  # never a title cut in the middle
    html = Renderer().render(view).html
    hidden = html[html.index('aria-hidden="true">') : html.index("</div>", html.index('aria-hidden="true">'))]
    assert hidden.count("&zwnj;&nbsp;") >= 60 and max(len(line) for line in hidden.splitlines()) < 998


def test_the_clip_guard_gives_up_the_thumbnail_before_any_link(shared_fixtures, monkeypatch):
    b = builder(hf_papers(shared_fixtures), thumbnails=True)
    picks = b.picks(READER)
    full = b.message(READER, picks)
    assert "<img" in full.rendered.html
    # a guard just under this email's size: losing the picture is enough
    monkeypatch.setattr("digest.compose.build.CLIP_GUARD", html_part_bytes(full.raw) - 10)
    trimmed = b.message(READER, picks)
    assert "<img" not in trimmed.rendered.html and ">Abstract</a>" in trimmed.rendered.html
    assert len(trimmed.picks) == len(picks) and "more on the web" not in trimmed.rendered.html


# --- the plain-text twin -----------------------------------------------------------------


def test_text_twin_follows_the_html_order_with_each_link_under_its_title(shared_fixtures):
    msg = message(hf_papers(shared_fixtures))
    html_links = [a.get("href") for a in Page(msg.rendered.html).all("a")]
    text = msg.rendered.text
    header = r"TRENDING PAPERS\nFriday 14 August 2026\n20 trending papers in \d+ groups\n\n\nTODAY'S TOP"
    assert re.match(header, text)
    body, signature = text.split("\n-- \n")  # the signature separator, its trailing space kept
    assert "Unsubscribe:" in signature
    text_links = re.findall(r"https?://\S+", body)
    # the same links as the HTML, in the same order; the reader's feedback page once per paper,
    # where the HTML has its "more" and "less" links
    paper_links = [h for h in html_links if "token=" not in h and "/issues/" not in h]
    assert paper_links == [u for u in text_links if "/feedback?" not in u]
    feedback = [h.split("&vote=")[0] for h in html_links if "/feedback?" in h]
    assert feedback[::2] == feedback[1::2] == [u for u in text_links if "/feedback?" in u]
    assert len(feedback) == 2 * len(msg.picks)
    # each paper's page is the line right after its (wrapped) title
    lines = body.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("* ")]
    assert len(starts) == len(msg.picks)
    for i in starts:
        j = i + 1
        while not lines[j].lstrip().startswith("http"):
            assert lines[j].startswith("  ") and "://" not in lines[j]  # the title's own lines
            j += 1
        assert lines[j].strip() in paper_links
    # lines fit 78 columns; only a URL too long for one stands alone, never mid-sentence
    for line in text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r" *https?://\S+", line), line


# --- size and safety ---------------------------------------------------------------------


def test_a_20_paper_digest_stays_under_gmails_clip(shared_fixtures, capsys):
    msg = message(hf_papers(shared_fixtures), thumbnails=True)
    size = len(msg.rendered.html.encode())
    report(capsys, f"HTML for {len(msg.picks)} papers with thumbnails and reasons: {size / 1024:.1f} KB")
    assert len(msg.picks) == 20 and any(p.reason for p in msg.picks)
    assert size < GMAIL_CLIP


def test_a_100_paper_digest_keeps_under_the_clip_guard_and_says_what_it_left_out(shared_fixtures, capsys):
    papers, seen = [], set()
    for day in sorted((shared_fixtures / "hf_daily_papers").glob("2026-08-*.json")):
        for paper in hf_papers(shared_fixtures, day.stem):
            if paper.id not in seen:
                seen.add(paper.id)
                papers.append(paper)
    assert len(papers) >= 100
    reader = READER.model_copy(update={"max_papers": 100})
    b = builder(papers[:100], thumbnails=True)
    asked = b.picks(reader)
    msg = b.message(reader, asked)
    size = html_part_bytes(msg.raw)
    report(capsys, f"HTML for {len(asked)} papers asked, {len(msg.picks)} kept: {size / 1024:.1f} KB")
    assert len(asked) == 100 and size < CLIP_GUARD
    html = msg.rendered.html
    # the extras went first: no thumbnail, no Abstract/PDF rows; then the lowest-ranked papers
    assert "<img" not in html and ">Abstract</a>" not in html
    left = len(asked) - len(msg.picks)
    assert left > 0 and f"And {left} more on the web</a>" in html
    assert [p.paper.id for p in msg.picks] == [p.paper.id for p in asked[: len(msg.picks)]]
    assert "Unsubscribe</a>" in html


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
        ("{% if v.left_out %}", "{% if 0 < v.left_out %}", ":\\d+: `<` inside the Jinja tag"),
        (
            '<mj-section padding="32px 20px 20px"',
            '<mj-sektion padding="32px 20px 20px"',
            "MJML cannot parse|:\\d+: unknown MJML element <mj-sektion>",
        ),
        ('width="600px"', 'width="{{ v.width }}"', ":\\d+: MJML dropped or changed {{ v.width }}"),
        (
            '<mj-text>\n          <p class="ac"',
            '<mj-txt>\n          <p class="ac"',
            ":\\d+: unknown MJML element <mj-txt>",
        ),
        ("{{ v.date_text }}", "{{ v.date_text }", ":\\d+: template error"),
        # an unknown filter or test: the template's own line, not a line of MJML's output
        (
            "{{ v.date_text }}",
            "{{ v.date_text | upperr }}",
            ":{line}: template error: no filter named 'upperr'",
        ),
        (
            "{{ v.date_text }}",
            "{% if v.date_text %}{{ v.date_text | upperr }}{% endif %}",  # Jinja defers these to render
            ":{line}: template error: no filter named 'upperr'; did you mean 'upper'",
        ),
        (
            "{{ v.date_text }}",
            "{{ v.date_text if v is odd_ish }}",
            ":{line}: template error: no test named 'odd_ish'",
        ),
    ],
)
def test_a_broken_layout_fails_at_build_time_naming_file_and_line(overrides, old, new, says):
    _layout_with(overrides, old, new)
    with pytest.raises(DigestError) as raised:
        Renderer(overrides)
    problems = "\n".join(raised.value.problems)
    source = (ROOT / "templates" / HTML_TEMPLATE).read_text()
    says = says.replace("{line}", str(source[: source.index(old)].count("\n") + 1))
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
