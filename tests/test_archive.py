"""The web archive: a page per issue, an index and an Atom feed, from `digest archive` and on
every `digest send`, through the CLI as a user runs it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from digest import config as config_mod
from digest.compose.build import Builder, issue_for
from digest.models import Subscriber
from digest.sources import file as file_source

from .helpers_digest import HF_DAY, NOW, Page, feed_link

ATOM = "{http://www.w3.org/2005/Atom}"
DAY1 = "2026-08-13T07:00:00+00:00"
DAY2 = "2026-08-14T07:00:00+00:00"


def _feed(path):
    root = ET.parse(path).getroot()
    assert root.tag == f"{ATOM}feed"
    return root, root.findall(f"{ATOM}entry")


def _day(shared, project, day):
    return shared / "hf_daily_papers" / f"{day}.json"


def _picked_for_anyone(project, papers_path) -> int:
    """How many papers the project's ranking gives a reader without preferences: what the
    archive page shows."""
    config = config_mod.load(project / "digest.yaml")
    issue = issue_for(config, file_source.read(papers_path), NOW)
    return len(Builder(config, issue, NOW, "s").picks(Subscriber(email="anyone@example.org")))


def test_archive_writes_the_issue_page_index_and_feed(project, cli, shared_fixtures):
    papers = _day(shared_fixtures, project, HF_DAY)
    result = cli("archive", "--papers", papers, "--now", DAY2, cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"issue {HF_DAY}: " in result.stdout and "written" in result.stdout
    folder = project / "archive"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{HF_DAY}.html",
        f"{HF_DAY}.json",
        "feed.xml",
        "index.html",
    ]

    page = Page((folder / f"{HF_DAY}.html").read_text())
    assert "Unsubscribe" not in page.text and "Subscribe by email" in page.text
    assert "token=" not in (folder / f"{HF_DAY}.html").read_text()  # nobody's signed links on the web
    n = _picked_for_anyone(project, papers)
    lead = [h for h in page.all("h2") if h.get("class") == "t"]
    assert 10 <= n <= 20 and len(lead) == 1 and len(page.all("h3")) == n - 1
    assert feed_link("https://papers.example.org") in page.all("link")

    index = Page((folder / "index.html").read_text())
    assert "Friday 14 August 2026" in index.text
    assert "https://papers.example.org/issues/2026-08-14" in [a["href"] for a in index.all("a")]

    feed, entries = _feed(folder / "feed.xml")
    assert feed.find(f"{ATOM}id").text == "https://papers.example.org/issues"
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "https://papers.example.org/issues/feed.xml"
    (entry,) = entries
    assert entry.find(f"{ATOM}id").text == "https://papers.example.org/issues/2026-08-14"
    assert entry.find(f"{ATOM}title").text == f"Trending Papers, Friday 14 August 2026: {n} trending papers"
    assert entry.find(f"{ATOM}updated").text == "2026-08-14T07:00:00+00:00"
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html" and content.text.count("<li>") == n


def test_rebuilding_the_same_issue_touches_nothing_and_a_new_day_goes_first(project, cli, shared_fixtures):
    day2 = _day(shared_fixtures, project, HF_DAY)
    assert cli("archive", "--papers", day2, "--now", DAY2, cwd=project).returncode == 0
    folder = project / "archive"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = cli("archive", "--papers", day2, "--now", "2026-08-14T09:30:00+00:00", cwd=project)
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before

    day1 = _day(shared_fixtures, project, "2026-08-13")
    assert cli("archive", "--papers", day1, "--now", DAY1, cwd=project).returncode == 0
    _, entries = _feed(folder / "feed.xml")
    assert [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in entries] == ["2026-08-14", "2026-08-13"]
    links = [a["href"] for a in Page((folder / "index.html").read_text()).all("a")]
    issues = [h.rsplit("/", 1)[1] for h in links if "/issues/20" in h]
    assert issues == ["2026-08-14", "2026-08-13"]


def test_send_writes_the_archive_and_a_dry_run_does_not(project, cli):
    assert cli("send", "--dry-run", "--now", "2026-11-26T07:00:00+00:00", cwd=project).returncode == 0
    assert not (project / "archive").exists()
    result = cli("send", "--now", "2026-11-26T07:00:00+00:00", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "archive" / "2026-11-26.html").is_file()
    assert (project / "archive" / "feed.xml").is_file()


def test_the_index_lists_the_issues_real_themes_not_its_headings(project, cli):
    # Which themes a day gets is the grouping's business; that sub-themes go under their
    # parent is pinned by the next test, on labels of its own.
    from digest.jobs.archive import theme_names

    result = cli("send", "--now", "2026-11-26T07:00:00+00:00", cwd=project)
    assert result.returncode == 0, result.stderr
    labels = [t["label"] for t in json.loads((project / "archive" / "2026-11-26.json").read_text())["themes"]]
    assert "Today's top paper" in labels  # the page's headings, kept for the feed
    line = Page((project / "archive" / "index.html").read_text()).text
    assert "Today's top paper" not in line and "More trending papers" not in line
    names = theme_names([{"label": label} for label in labels])
    assert len(names) >= 2 and all(name in line for name in names)


def test_theme_names_put_sub_themes_under_their_parent_and_drop_headings():
    from digest.jobs.archive import theme_names

    labels = ("Today's top paper", "Agents", "Language models", "Language models: Tokenizers",
              "Vision: LLMs and CLIP", "Language models: Data mixtures", "More trending papers")  # fmt: skip
    themes = [{"label": x} for x in labels]
    assert theme_names(themes) == [
        "Agents", "Language models (tokenizers; data mixtures)", "Vision (LLMs and CLIP)"
    ]  # fmt: skip


def test_a_damaged_entry_is_reported_and_the_rest_of_the_archive_still_built(project, cli, shared_fixtures):
    (project / "archive").mkdir()
    (project / "archive" / "2026-08-01.json").write_text("{not json")
    papers = _day(shared_fixtures, project, HF_DAY)
    result = cli("archive", "--papers", papers, "--now", DAY2, cwd=project)
    assert result.returncode == 1
    assert "2026-08-01.json: not a readable archive entry" in result.stderr
    assert "Traceback" not in result.stderr
    _, entries = _feed(project / "archive" / "feed.xml")
    assert len(entries) == 1
    n_papers = json.loads((project / "archive" / f"{HF_DAY}.json").read_text())["n_papers"]
    assert n_papers == _picked_for_anyone(project, papers)


def test_archive_switched_off_is_a_clear_usage_error_and_send_skips_it(project, cli):
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("\narchive: archive ", "\narchive: null "))
    result = cli("archive", "--now", DAY2, cwd=project)
    assert result.returncode == 2 and "archive: is off" in result.stderr
    assert cli("send", "--now", "2026-11-26T07:00:00+00:00", cwd=project).returncode == 0
    assert not (project / "archive").exists()


def test_an_archive_folder_that_cannot_be_written_is_named_and_the_mail_still_goes(project, cli):
    (project / "archive").write_text("a file where the archive folder should be\n")
    result = cli("archive", "--now", DAY2, cwd=project)
    assert result.returncode == 2 and "archive: cannot write the archive" in result.stderr
    assert "Traceback" not in result.stderr
    sent = cli("send", "--now", "2026-11-26T07:00:00+00:00", cwd=project)
    assert sent.returncode == 1 and "sent 3" in sent.stdout
    assert "cannot write the archive" in sent.stderr and "Traceback" not in sent.stderr


def test_an_empty_papers_file_publishes_nothing_and_keeps_the_days_page(project, cli):
    # Like a day on which every source answers with no papers: no issue, rather than an
    # empty one replacing the page and feed entry the day's send wrote.
    assert cli("archive", "--now", DAY2, cwd=project).returncode == 0
    page = project / "archive" / "2026-08-14.html"
    before = page.read_bytes()
    (project / "empty.jsonl").write_text("")
    for command in (("archive",), ("preview", "--out", "pv")):
        result = cli(*command, "--papers", "empty.jsonl", "--now", DAY2, cwd=project)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "empty.jsonl: no papers in it" in result.stderr
    assert page.read_bytes() == before
    assert not (project / "pv").exists()
