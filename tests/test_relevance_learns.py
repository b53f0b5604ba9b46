"""A reader's digest learns from them, end to end on recorded labelled papers: a library makes
it lean to their area (and says which of their papers a pick is like), "less like this" from
the email over real HTTP removes an area from the next day's digest, and a mail scanner that
opens every link of a digest changes nothing."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import sqlite3
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, run_cli
from .helpers_web import SECRET, csrf_form, serving

DAY1, DAY2 = "2026-11-26T09:00:00Z", "2026-11-27T09:00:00Z"


def _area(shared: Path, category: str) -> tuple[list[dict], list[dict]]:
    """The labelled papers of one arXiv category, and all the others."""
    rows = [json.loads(line) for line in (shared / "labeled" / "arxiv_labeled_dev.jsonl").open()]
    return [r for r in rows if r["primary_category"] == category], [
        r for r in rows if r["primary_category"] != category
    ]


def _write_day(root: Path, papers: list[dict]) -> None:
    lines = [json.dumps({k: p[k] for k in ("id", "title", "abstract")}) for p in papers]
    (root / "day.jsonl").write_text("\n".join(lines) + "\n")


def _project(root: Path, reader: str = "  - email: reader@example.org\n    timezone: UTC\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "samples", root / "samples")
    (root / "subscribers.yaml").write_text("subscribers:\n" + reader)
    (root / "digest.yaml").write_text(
        """newsletter:
  name: Trending Papers
  from: "Trending Papers <papers@example.org>"
  base_url: https://papers.example.org
  timezone: UTC
sources:
  - kind: file
    path: day.jsonl
subscribers: subscribers.yaml
state: state.db
archive: null
delivery:
  url: file://outbox
ranking:
  max_papers: 10
"""
    )
    return root


def _send(root: Path, now: str) -> str:
    result = run_cli("send", "--now", now, cwd=root)
    assert result.returncode == 0, result.stderr
    (path,) = (root / "outbox" / now[:10]).glob("reader@example.org.eml")
    return message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("html",)).get_content()


def _cards(html: str) -> list[tuple[str, str]]:
    """(title, feedback page) of each paper in a digest's HTML, the lead's included."""
    titles = list(re.finditer(r'<h[23] class="t"[^>]*><a [^>]*>([^<]+)</a>', html))
    out = []
    for title, after in zip(titles, [*titles[1:], None], strict=True):
        block = html[title.end() : after.start() if after else len(html)]
        link = re.search(r'href="([^"]+/feedback\?token=[^"&]+)&amp;vote=less"', block)
        if link:
            out.append((html_lib.unescape(title.group(1)), link.group(1).replace("&amp;", "&")))
    return out


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


def test_five_less_like_this_from_the_email_remove_that_area_from_the_next_digest(tmp_path, shared_fixtures):
    robots, others = _area(shared_fixtures, "cs.RO")
    project = _project(tmp_path / "p")
    _write_day(project, robots[:8] + others[:22])  # robotics tops the listing: a trending reader gets it
    with serving(project) as base:
        first = _cards(_send(project, DAY1))
        disliked = [(t, link) for t, link in first if t in {r["title"] for r in robots[:8]}][:5]
        assert len(disliked) == 5, first
        with httpx.Client() as client:
            for title, link in disliked:
                page = client.get(link + "&vote=less")  # the landing page asks, and shows the paper
                assert (
                    page.status_code == 200 and "Fewer papers like this?" in page.text and title in page.text
                )
                token = link.split("token=", 1)[1]
                done = client.post(f"{base}/feedback", data={"token": token, "vote": "less"})
                assert done.status_code == 200 and "fewer papers like" in done.text
        _write_day(project, robots[8:16] + others[22:44])  # the next day: other robotics papers on top
        second = [t for t, _ in _cards(_send(project, DAY2))]
    assert len(second) >= 8
    assert not set(second) & {r["title"] for r in robots}, second


def test_a_scanner_opening_every_link_of_a_digest_by_get_and_head_changes_nothing(tmp_path, shared_fixtures):
    robots, others = _area(shared_fixtures, "cs.RO")
    project = _project(tmp_path / "p")
    _write_day(project, robots[:5] + others[:25])
    with serving(project) as base:
        html = _send(project, DAY1)
        links = sorted({link.replace("&amp;", "&") for link in re.findall(r'href="([^"]+)"', html)})
        ours = [link for link in links if link.startswith(base)]
        assert sum("/feedback?" in link for link in ours) == 20  # more and less under ten papers
        assert any("/unsubscribe?" in link for link in ours) and any("/preferences?" in link for link in ours)
        with httpx.Client() as scanner:
            for link in ours:
                assert scanner.get(link).status_code < 500
                assert scanner.head(link).status_code < 500
    db = sqlite3.connect(project / "state.db")
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM profiles").fetchone() == (0,)
    assert "status" not in (project / "subscribers.yaml").read_text()  # still the active entry it was


def _bibtex(papers: list[dict]) -> str:
    entry = "@article{{p{i},\n  title = {{{title}}},\n  abstract = {{{abstract}}},\n  year = {{2025}}\n}}"
    return "\n".join(entry.format(i=i, **p) for i, p in enumerate(papers))


def test_a_library_makes_the_digest_lean_to_its_area_and_names_the_paper_a_pick_is_like(
    tmp_path, shared_fixtures
):
    games, others = _area(shared_fixtures, "cs.GT")
    reader = "  - email: reader@example.org\n    timezone: UTC\n    library: library.bib\n"
    project = _project(tmp_path / "p", reader)
    (project / "library.bib").write_text(_bibtex(games[:12]))
    _write_day(project, others[:22] + games[12:20])  # game theory at the bottom of the listing
    with serving(project):
        html = _send(project, DAY1)
    picked = [t for t, _ in _cards(html)]
    ours = [t for t in picked if t in {g["title"] for g in games}]
    assert len(ours) >= 6, picked  # of the 8 on the day, despite their places in the listing
    reasons = [html_lib.unescape(r) for r in re.findall(r"For you &middot; ([^<]+)</p>", html)]
    assert any(r.startswith("like “") and r.endswith("” in your library") for r in reasons), reasons
    named = {g["title"] for g in games[:12]}
    assert all(re.sub(r"^like “|” in your library$", "", r) in named for r in reasons if r.startswith("like"))

    explained = run_cli("preview", "--explain", "--now", DAY1, "--out", "pv", cwd=project)
    assert explained.returncode == 0, explained.stderr
    assert "your papers: 12 (12 in your library" in explained.stdout
    assert re.search(r"relevance: library like “.+” in your library \d\.\d\d", explained.stdout)


def test_a_library_uploaded_on_the_preferences_page_is_kept(tmp_path, shared_fixtures):
    games, _ = _area(shared_fixtures, "cs.GT")
    project = _project(tmp_path / "p")
    from digest.compose import tokens

    with serving(project) as base, httpx.Client(base_url=base) as client:
        token = tokens.sign(SECRET, "preferences", "reader@example.org")
        csrf = csrf_form(client, f"/preferences?token={token}")
        files = {"library": ("My Library.bib", _bibtex(games[:7]).encode(), "application/x-bibtex")}
        saved = client.post("/preferences/library", data={"csrf": csrf, "token": token}, files=files)
        assert saved.status_code == 200 and "7 papers: your digest now leans" in saved.text
        page = client.get(f"/preferences?token={token}")
        assert "you gave 7" in page.text
        bad = client.post(
            "/preferences/library",
            data={"csrf": csrf, "token": token},
            files={"library": ("x.txt", b"not a paper\n", "text/plain")},
        )
        assert bad.status_code == 400 and "no paper in it could be used" in bad.text
    rows = sqlite3.connect(project / "state.db").execute("SELECT COUNT(*) FROM library").fetchone()
    assert rows == (7,)  # the refused file replaced nothing


def test_the_embeddings_extra_ranks_by_a_library_with_its_bundled_model_and_no_network(shared_fixtures):
    pytest.importorskip("wordllama", reason="the embeddings extra (wordllama) is not installed")
    from datetime import UTC, datetime

    from digest.compose.build import make_issue
    from digest.issue import embed, rank, similar, themes
    from digest.models import Paper, Subscriber

    games, others = _area(shared_fixtures, "cs.GT")
    day = [Paper(id=p["id"], title=p["title"], abstract=p["abstract"], position=n + 1)
           for n, p in enumerate(others[:22] + games[12:20])]  # fmt: skip
    now = datetime(2026, 11, 26, 9, tzinfo=UTC)
    options = rank.Options(max_papers=10)
    prepared = rank.prepare(make_issue(day, now, "UTC", themes.load_taxonomy()), now, options)
    prepared.embeddings = embed.vectors([similar.text_of(p.title, p.abstract) for p in day])
    owns = [similar.Own(similar.LIBRARY, g["id"], g["title"], g["abstract"]) for g in games[:12]]
    profile = similar.profile_of(owns, embed.vectors)
    assert len(profile.positive_embedding) == 256
    picks = rank.select(prepared, Subscriber(email="r@example.org"), options, profile=profile)
    assert sum(1 for p in picks if p.paper.id in {g["id"] for g in games}) >= 5
