"""What a source may send: papers come in through one gate (digest/sources/intake.py) that
cuts every field to a size no real listing reaches and drops the characters XML, headers and
readers' screens cannot take; whatever gets through, every email stays under Gmail's clip;
and JSON nested past Python's limits is an input error, never a crash."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest import config as config_mod
from digest import sources
from digest.compose.build import CLIP_GUARD
from digest.config import FileSource, HFDailySource
from digest.jobs import send
from digest.models import Paper, Subscriber
from digest.sources import arxiv_api, arxiv_rss, feed
from digest.sources import file as file_source

from .helpers_digest import html_part_bytes, message
from .helpers_http import ReplayServer, Reply
from .helpers_smtp import NOW, write_project

MB = 1_000_000
# Gmail clips at "102 KB"; counted as 102,000 bytes this is the stricter reading.
CLIP = 102_000
CONTROLS = "\x00\x07\x1b\x08\x0b\x0c\x1f\x7f\ufffe\ud800"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def write_lines(path: Path, papers: list[dict]) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in papers), encoding="utf-8", errors="surrogatepass")
    return path


def huge(i: int) -> dict:
    """A paper as a hostile or broken source might send it: every field enormous."""
    return {
        "id": f"2611.{30000 + i}",
        "title": f"Paper {i} " + "enormous " * (MB // 9),
        "abstract": "An abstract that never ends. " * (MB // 29),
        "summary": "A summary that never ends. " * (MB // 27),
        "authors": [f"Author {j} " + "von " * 60 for j in range(20_000)],
        "organization": "The Organisation " * 10_000,
        "keywords": ["keyword " * 100] * 5_000,
        "categories": ["cs.LG"] * 5_000,
        "url": "https://example.org/" + "a" * MB,
        "code_url": "https://github.com/a/b",
        "upvotes": 10**400,
    }


# --- item 6: length caps ------------------------------------------------------------------


def test_huge_fields_are_cut_where_papers_come_in(tmp_path):
    (paper,) = file_source.read(write_lines(tmp_path / "huge.jsonl", [huge(1)]))
    assert paper.title.startswith("Paper 1 enormous") and paper.title.endswith("…")
    assert len(paper.title) <= 1_000
    assert len(paper.abstract) <= 10_000 and len(paper.summary) <= 2_000
    assert len(paper.authors) <= 10_000 and all(len(a) <= 200 for a in paper.authors)
    assert len(paper.organization) <= 300
    assert len(paper.keywords) <= 100 and all(len(k) <= 100 for k in paper.keywords)
    assert len(paper.categories) <= 100
    assert paper.url is None  # a URL cut short is a wrong URL: too long, it is dropped
    assert paper.code_url == "https://github.com/a/b"
    assert paper.upvotes == 10**9


def test_a_saved_hf_response_and_a_feed_are_capped_the_same_way(tmp_path):
    entry = {
        "paper": {
            "id": "2611.40000",
            "title": "T" * MB,
            "summary": "S" * MB,
            "authors": [{"name": "N" * 300}] * 12_000,
        },
        "title": "T" * MB,
    }
    saved = tmp_path / "hf.json"
    saved.write_text(json.dumps([entry]))
    (from_file,) = file_source.read(saved)
    rss = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>x</title><item>"
        f"<title>{'T' * MB}</title><link>https://arxiv.org/abs/2611.40001</link>"
        f"<description>{'D' * MB}</description></item></channel></rss>"
    ).encode()
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = Reply(json.dumps([entry]).encode())
        server.routes["/feed"] = Reply(rss, content_type="application/rss+xml")
        collected = sources.collect(
            [
                HFDailySource(kind="hf_daily", url=server.url),
                config_mod.FeedSource(kind="feed", url=server.url + "/feed"),
            ]
        )
    assert not collected.failed, [r.error for r in collected.reports]
    for paper in [from_file, *collected.papers]:
        assert len(paper.title) <= 1_000 and len(paper.abstract) <= 10_000
        assert len(paper.authors) <= 10_000 and all(len(a) <= 200 for a in paper.authors)


def test_no_recorded_real_paper_comes_near_a_cap(shared_fixtures):
    """The caps are for hostile and broken sources: real listings stay far below them, so
    real data never loses a character to them (measured maxima: digest/sources/intake.py)."""
    from digest.sources import intake

    papers = [
        p for path in sorted(shared_fixtures.glob("hf_daily_papers/*.json")) for p in file_source.read(path)
    ]
    papers += [p for path in sorted(shared_fixtures.glob("labeled/*.jsonl")) for p in file_source.read(path)]
    for path in sorted(shared_fixtures.glob("*/*.xml")):
        parsed, _ = feed.parse(path.read_bytes(), str(path))
        if path.parent.name == "arxiv_api":
            papers += arxiv_api.papers_from(parsed, str(path), "api")[0]
        elif path.parent.name == "arxiv_rss":
            papers += arxiv_rss.papers_from(parsed, str(path), "rss", ["new", "cross", "replace"])[0]
        else:
            papers += feed.papers_from(parsed, str(path), "feed")[0]
    assert len(papers) > 800
    assert max(len(p.title) for p in papers) * 5 < intake.TITLE_CHARS
    # arXiv's form stops most abstracts at 1,920 characters; older and cross-listed ones run
    # longer (3,040 in the labelled physics set): a 3x margin, still far from the cap
    assert max(len(p.abstract) for p in papers) * 3 < intake.ABSTRACT_CHARS
    assert max(len(p.summary or "") for p in papers) * 5 < intake.SUMMARY_CHARS
    assert max(len(p.authors) for p in papers) * 5 < intake.MAX_AUTHORS
    assert max(len(a) for p in papers for a in p.authors) * 5 < intake.NAME_CHARS
    assert max(len(p.organization or "") for p in papers) * 5 < intake.NAME_CHARS * 2
    assert max(len(p.keywords) for p in papers) * 3 < intake.MAX_TERMS
    assert max(len(u or "") for p in papers for u in (p.url, p.thumbnail, p.code_url)) * 5 < intake.URL_CHARS


def _fat_papers(n: int) -> list[Paper]:
    """Papers at the largest the intake lets through, in a script whose every character takes
    eight bytes in the HTML (&#NNNNN;), with every link at its longest."""
    cjk = "注意力机制" * 200  # 1,000 characters
    long_url = "https://example.org/" + "&" * 970  # 1,000 characters, each `&amp;` in the HTML
    return [
        Paper(
            id=f"2611.{50000 + i}",
            title=cjk,
            abstract=cjk * 10,
            summary=cjk[:300],
            authors=[cjk[:200]] * 3,
            organization=cjk[:300],
            url=long_url + str(i),
            pdf_url=long_url,
            code_url=long_url,
            project_url=long_url,
            thumbnail=long_url + ".png",
            upvotes=10**9,
            comments=10**9,
            stars=10**9,
        )
        for i in range(n)
    ]


def test_one_paper_at_every_cap_fits_under_the_clip_on_its_own(tmp_path):
    """What makes leaving papers out always enough: no single paper, however the intake
    lets it through, outgrows the clip."""
    (fattest,) = file_source.read(write_lines(tmp_path / "one.jsonl", [_fat_papers(1)[0].to_dict()]))
    assert fattest.title == _fat_papers(1)[0].title and fattest.thumbnail is not None  # nothing was cut
    msg = message([fattest], reader=Subscriber(email="ada@example.org"), thumbnails=True)
    assert len(msg.picks) == 1 and html_part_bytes(msg.raw) < CLIP_GUARD


def test_an_iri_is_percent_encoded_and_a_url_past_the_cap_dropped(tmp_path):
    lines = [
        {
            "id": "2611.5",
            "title": "T",
            "abstract": "A.",
            "url": "https://例え.jp/論文?q=注意",
            "pdf_url": "https://x.org/" + "p" * 990,
        }
    ]
    (paper,) = file_source.read(write_lines(tmp_path / "iri.jsonl", lines))
    assert paper.url == "https://%E4%BE%8B%E3%81%88.jp/%E8%AB%96%E6%96%87?q=%E6%B3%A8%E6%84%8F"
    assert paper.pdf_url is None


def test_every_message_stays_under_gmails_clip_whatever_the_sources_send():
    reader = Subscriber(email="ada@example.org", name="Ada", max_papers=20)
    msg = message(_fat_papers(20), reader=reader, thumbnails=True)
    assert html_part_bytes(msg.raw) < CLIP
    assert 1 <= len(msg.picks) < 20  # papers left out rather than the footer clipped
    html = message_from_bytes(msg.raw, policy=policy.default).get_body(("html",)).get_content()
    assert "Unsubscribe</a>" in html and "/unsubscribe?token=" in html
    shown = [p.paper.id for p in msg.picks]
    assert all(pid in msg.rendered.text for pid in shown)  # what it says it carries, it carries


def test_a_one_megabyte_title_no_longer_makes_every_message_huge(tmp_path):
    write_project(tmp_path, url="file://outbox", readers=3)
    papers = [json.loads(line) for line in (tmp_path / "papers.jsonl").read_text().splitlines()]
    papers[0].update(title="Enormous " * (MB // 9), upvotes=500)  # the day's top paper, for everyone
    write_lines(tmp_path / "papers.jsonl", papers)
    report = _send(tmp_path)
    assert report.sent == 3, report.problems
    sizes = [len(p.read_bytes()) for p in (tmp_path / "outbox").glob("*/*.eml")]
    assert len(sizes) == 3 and max(sizes) < 200_000


def test_papers_left_out_to_fit_the_clip_are_not_recorded_as_sent(tmp_path):
    write_project(tmp_path, url="file://outbox", readers=1)
    fat = [
        {**p.to_dict(), "keywords": ["retrieval"], "published": "2026-11-25T12:00:00Z"}
        for p in _fat_papers(20)
    ]
    write_lines(tmp_path / "papers.jsonl", fat)
    assert _send(tmp_path).sent == 1
    (eml,) = (tmp_path / "outbox").glob("*/*.eml")
    assert html_part_bytes(eml.read_bytes()) < CLIP
    text = message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    in_email = {p["id"] for p in fat if p["id"] in text}
    db = sqlite3.connect(tmp_path / "state.db")
    recorded = {pid for (pid,) in db.execute("SELECT paper_id FROM sent_papers")}
    assert 0 < len(in_email) < 20 and recorded == in_email


def _send(root: Path) -> send.SendReport:
    config = config_mod.load(root / "digest.yaml")
    return send.run(config, now=datetime.fromisoformat(NOW), log=lambda line: None)


# --- item 7: characters ---------------------------------------------------------------------


def test_control_characters_never_reach_the_atom_feed(project, cli):
    dirty = [
        {
            "id": f"2611.{60000 + i}",
            "title": f"Paper {i}{CONTROLS} on agents{BIDI}",
            "abstract": f"We{CONTROLS} study agents. It works.",
            "summary": f"Agents{CONTROLS} work.",
            "authors": [f"Ada{CONTROLS} Lovelace"],
        }
        for i in range(6)
    ]
    papers = write_lines(project / "dirty.jsonl", dirty)
    done = cli("archive", "--papers", papers, "--now", "2026-08-14T07:00:00Z", cwd=project)
    assert done.returncode == 0, done.stderr
    feed = (project / "archive" / "feed.xml").read_bytes()
    root = ET.fromstring(feed)  # raises on a character XML 1.0 forbids
    text = "".join(root.itertext())
    assert "Paper 0 on agents" in text
    assert not any(c in text for c in CONTROLS + BIDI)


def test_an_archive_entry_written_before_the_fix_no_longer_breaks_the_feed(project, cli, tmp_path):
    papers = write_lines(tmp_path / "clean.jsonl", [{"id": "2611.7", "title": "Clean", "abstract": "A."}])
    assert cli("archive", "--papers", papers, "--now", "2026-08-14T07:00:00Z", cwd=project).returncode == 0
    entry = project / "archive" / "2026-08-13.json"
    entry.write_text(
        json.dumps(
            {"id": "2026-08-13", "date": "2026-08-13", "date_text": "Thursday 13 August 2026",
             "title": "Old\x00 issue\x07", "summary": "Bell\x07", "url": "https://papers.example.org/issues/x",
             "updated": "2026-08-13T07:00:00+00:00", "n_papers": 1,
             "themes": [{"label": "L\x1b",
                         "papers": [{"title": "T\x00", "url": "https://x.org", "tldr": "\x07"}]}]}
        )
    )  # fmt: skip
    assert cli("archive", "--papers", papers, "--now", "2026-08-14T07:00:00Z", cwd=project).returncode == 0
    root = ET.fromstring((project / "archive" / "feed.xml").read_bytes())
    assert "Old issue" in "".join(root.itertext())


def test_bidi_overrides_are_removed_and_right_to_left_text_kept(tmp_path):
    arabic = "\u0627\u0644\u0627\u0646\u062a\u0628\u0627\u0647 \u200fهو كل ما تحتاجه"  # with an RLM
    lines = [
        {"id": "2611.1", "title": "Safe \u202egnidaer\u202c model", "abstract": "A \u2067b\u2069 c."},
        {"id": "2611.2", "title": arabic, "abstract": "Arabic."},
    ]
    spoofed, rtl = file_source.read(write_lines(tmp_path / "bidi.jsonl", lines))
    assert (spoofed.title, spoofed.abstract) == ("Safe gnidaer model", "A b c.")
    assert rtl.title == arabic


def test_an_override_written_as_an_html_entity_never_reaches_a_reader():
    # The intake sees `&#x202e;`, six harmless characters; display decodes it into an override.
    spoof = Paper(id="2611.3", title="Safe &#x202e;gnidaer&#x202c; model", abstract="Fine &#x2066;x.")
    msg = message([spoof, Paper(id="2611.4", title="Calm", abstract="Calm.")])
    assert "Safe gnidaer model" in msg.rendered.text
    assert "\u202e" not in msg.rendered.text and "&#8238;" not in msg.rendered.html
    assert "\u2066" not in msg.rendered.text and "&#8294;" not in msg.rendered.html


def test_to_names_lose_control_and_override_characters(tmp_path):
    write_project(tmp_path, url="file://outbox", readers=1)
    (tmp_path / "subscribers.yaml").write_text(
        'subscribers:\n  - email: ada@example.org\n    name: "Ada\\0 \\aLove\\elace \\u202eevil"\n'
    )
    report = _send(tmp_path)
    assert report.sent == 1, report.problems
    (eml,) = (tmp_path / "outbox").glob("*/ada@example.org.eml")
    to = next(line for line in eml.read_bytes().split(b"\r\n") if line.startswith(b"To: "))
    assert to == b"To: Ada Lovelace evil <ada@example.org>"


def test_a_lone_surrogate_from_a_source_does_not_stop_a_send(tmp_path):
    write_project(tmp_path, url="file://outbox", readers=2)
    papers = [json.loads(line) for line in (tmp_path / "papers.jsonl").read_text().splitlines()]
    papers[0]["title"] += "\ud800"
    papers[0]["abstract"] += "\udfff"
    write_lines(tmp_path / "papers.jsonl", papers)
    report = _send(tmp_path)
    assert (report.sent, report.failed) == (2, 0), report.problems


# --- item 8: nesting --------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("command", ["themes", "preview"])
def test_deeply_nested_json_lines_are_an_input_error_naming_the_line(project, cli, command):
    good = json.dumps({"id": "2611.1", "title": "Fine", "abstract": "Fine."})
    (project / "deep.jsonl").write_text(good + "\n" + '{"title": ' + DEEP + "}\n")
    result = cli(command, "--papers", "deep.jsonl", cwd=project)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "deep.jsonl:2: " in result.stderr and "nested too deeply" in result.stderr


def test_a_deeply_nested_saved_hf_response_is_an_input_error(project, cli):
    (project / "deep.json").write_text(DEEP)
    result = cli("themes", "--papers", "deep.json", cwd=project)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "deep.json" in result.stderr and "nested too deeply" in result.stderr


def test_a_deeply_nested_archive_entry_is_reported_and_the_feed_still_written(project, cli, tmp_path):
    papers = write_lines(tmp_path / "p.jsonl", [{"id": "2611.8", "title": "Fine", "abstract": "Fine."}])
    (project / "archive").mkdir()
    (project / "archive" / "2026-08-13.json").write_text(DEEP)
    result = cli("archive", "--papers", papers, "--now", "2026-08-14T07:00:00Z", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2026-08-13.json: not a readable archive entry" in result.stderr
    ET.parse(project / "archive" / "feed.xml")


def test_sources_sending_deeply_nested_json_are_reported_as_bad_input_not_as_a_bug(tmp_path):
    (tmp_path / "deep.jsonl").write_text('{"title": ' + DEEP + "}\n")
    (tmp_path / "deep.json").write_text(DEEP)
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = Reply(DEEP.encode())
        collected = sources.collect(
            [
                FileSource(kind="file", path=tmp_path / "deep.jsonl"),
                FileSource(kind="file", path=tmp_path / "deep.json"),
                HFDailySource(kind="hf_daily", url=server.url),
            ]
        )
    assert len(collected.failed) == 3
    for report in collected.reports:
        assert "nested too deeply" in report.error and "bug" not in report.error, report.error
