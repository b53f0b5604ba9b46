"""Every source kind against a real HTTP server on loopback replaying recorded responses:
the public ones in ../shared/fixtures and small ones written for these tests."""

import json
import os
import re
import stat
import threading
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from digest import sources
from digest.config import ArxivApiSource, ArxivRssSource, FeedSource, Fetch, HFDailySource
from digest.models import arxiv_id
from digest.sources import jsonlines
from digest.util.clean import repair_mojibake

from .conftest import FIXTURES
from .helpers_http import ReplayServer, Reply, hf_daily_papers, recorded_reply

FAST = Fetch(timeout=5, retries=0, backoff=0.01)
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"


@pytest.fixture
def server():
    with ReplayServer() as running:
        yield running


def fetch_one(source, day=None, options=FAST):
    collected = sources.collect([source], day=day, options=options)
    (report,) = collected.reports
    return collected, report


def manifest(shared: Path) -> dict[str, dict]:
    return {e["file"]: e for e in json.loads((shared / "MANIFEST.json").read_text())}


# --- Hugging Face daily papers --------------------------------------------------------------


def test_every_recorded_hf_day_comes_through_the_api_with_every_field(server, shared_fixtures):
    days = {p.stem: p for p in sorted((shared_fixtures / "hf_daily_papers").glob("*.json"))}
    records = manifest(shared_fixtures)
    server.routes["/api/daily_papers"] = hf_daily_papers(days)
    source = HFDailySource(kind="hf_daily", url=server.url)
    assert len(days) >= 14
    for day, path in days.items():
        raw = json.loads(path.read_text())
        collected, report = fetch_one(source, date.fromisoformat(day))
        assert report.ok and report.papers == len(raw) == records[f"hf_daily_papers/{day}.json"]["records"]
        for entry, paper in zip(raw, collected.papers, strict=True):
            inner = entry["paper"]
            assert paper.id == arxiv_id(inner["id"]) and paper.position == raw.index(entry) + 1
            assert paper.title and paper.abstract == inner["summary"].strip(), (day, paper.id)
            assert paper.authors == [a["name"] for a in inner["authors"]]
            assert paper.upvotes == inner["upvotes"] and paper.comments == entry["numComments"]
            assert paper.published == inner["publishedAt"]
            assert paper.summary == inner.get("ai_summary")
            assert paper.keywords == inner.get("ai_keywords", [])
            assert paper.stars == inner.get("githubStars")
            assert paper.code_url == inner.get("githubRepo")
            assert paper.project_url == inner.get("projectPage")
            org = entry.get("organization") or inner.get("organization")
            assert paper.organization == (org["fullname"].strip() if org else None)
            # 2024-05 has mediaUrl, later days thumbnail; mediaUrls may hold videos, never used
            assert paper.thumbnail == (entry.get("thumbnail") or entry.get("mediaUrl"))
            assert paper.thumbnail.endswith(".png")


def test_hf_pages_through_a_listing_until_a_short_page(server):
    server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-12": FIXTURES / "hf_small.json"})
    source = HFDailySource(kind="hf_daily", url=server.url, limit=1, sort="trending")
    collected, report = fetch_one(source, date(2026, 8, 12))
    assert [p.id for p in collected.papers] == ["2608.12313", "2405.00001"]
    assert [p.position for p in collected.papers] == [1, 2]
    assert [r.query["p"] for r in server.requests] == ["0", "1", "2"]
    assert {r.query["sort"] for r in server.requests} == {"trending"}

    capped = HFDailySource(kind="hf_daily", url=server.url, limit=1, max_pages=1)
    collected, report = fetch_one(capped, date(2026, 8, 12))
    assert report.papers == 1 and "stopped after 1 full pages" in report.warnings[0]


@pytest.mark.parametrize(
    "period, param, value",
    [("day", "date", "2026-08-12"), ("week", "week", "2026-W33"), ("month", "month", "2026-08")],
)
def test_hf_asks_for_the_issue_day_week_or_month(server, period, param, value):
    server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-12": FIXTURES / "hf_small.json"})
    source = HFDailySource(kind="hf_daily", url=server.url, period=period)
    collected, report = fetch_one(source, date(2026, 8, 12))
    assert server.requests[0].query[param] == value
    assert report.papers == 2


# --- arXiv API ------------------------------------------------------------------------------


def _atom_entries(body: bytes) -> list[ET.Element]:
    return ET.fromstring(body).findall(f"{ATOM}entry")


def test_every_recorded_arxiv_api_response_parses_entry_for_entry(server, shared_fixtures):
    files = sorted((shared_fixtures / "arxiv_api").iterdir())
    assert len(files) == 9
    source = ArxivApiSource(kind="arxiv_api", url=server.url, query="all:testing")
    empty = 0
    for path in files:
        reply = recorded_reply(path)
        server.routes["/api/query"] = reply
        entries = _atom_entries(reply.body)
        collected, report = fetch_one(source)
        assert report.ok, (path.name, report.error)
        assert report.papers == len(entries), path.name
        empty += not entries
        for entry, paper in zip(entries, collected.papers, strict=True):
            assert paper.id == arxiv_id(entry.findtext(f"{ATOM}id")), path.name
            assert paper.title == repair_mojibake(" ".join(entry.findtext(f"{ATOM}title").split()))
            # one recorded abstract is double-encoded UTF-8 ("Î±" for "α"); it reads repaired
            assert paper.abstract == repair_mojibake(entry.findtext(f"{ATOM}summary").strip())
            assert paper.authors and len(paper.authors) == len(entry.findall(f"{ATOM}author"))
            primary = entry.find(f"{ARXIV}primary_category").get("term")
            assert paper.categories[0] == primary
            assert set(paper.categories) == {c.get("term") for c in entry.findall(f"{ATOM}category")} | {
                primary
            }
            assert paper.published.startswith(entry.findtext(f"{ATOM}published")[:10])
    assert empty == 1  # the recorded empty result is an empty listing, not a failure


def test_arxiv_api_sends_the_query_and_normalises_old_and_new_ids(server):
    server.routes["/api/query"] = recorded_reply(FIXTURES / "arxiv_api_small.xml")
    source = ArxivApiSource(
        kind="arxiv_api", url=server.url, query="cat:cs.IR AND abs:tokenizer", max_results=2
    )
    collected, report = fetch_one(source)
    query = server.requests[0].query
    assert (query["search_query"], query["max_results"], query["sortBy"]) == (
        "cat:cs.IR AND abs:tokenizer",
        "2",
        "submittedDate",
    )
    new, old = collected.papers
    assert (new.id, old.id) == ("2608.12313", "hep-th/9901001")
    assert new.title == "Sparse Retrieval Tokenizers for Long Documents"
    assert new.categories == ["cs.IR", "cs.CL"]
    assert new.code_url == "https://github.com/example/sparse-tok"
    assert new.authors == ["Jane Doe", "Dirk Wübben"]  # double-encoded UTF-8 upstream, repaired
    assert "$\\mathcal{O}(n^{2})$" in new.abstract  # raw text kept; display cleaning is later
    assert (new.url, old.pdf_url) == (
        "https://arxiv.org/abs/2608.12313",
        "https://arxiv.org/pdf/hep-th/9901001",
    )


def test_arxiv_api_error_feed_is_reported_as_the_apis_own_words(server):
    server.routes["/api/query"] = recorded_reply(FIXTURES / "arxiv_api_error.xml")
    collected, report = fetch_one(ArxivApiSource(kind="arxiv_api", url=server.url, query="id:bad"))
    assert not report.ok and "refused the query: incorrect id format for 1234.12345v999" in report.error


# --- arXiv RSS ------------------------------------------------------------------------------


def _rss_items(body: bytes) -> list[tuple[str, str]]:
    items = ET.fromstring(body).iter("item")
    return [(i.findtext("guid"), i.findtext(f"{ARXIV}announce_type")) for i in items]


def test_every_recorded_arxiv_rss_feed_keeps_the_announce_types_asked_for(server, shared_fixtures):
    files = sorted((shared_fixtures / "arxiv_rss").glob("*.xml"))
    assert len(files) == 3
    everything = ["new", "cross", "replace", "replace-cross"]
    for path in files:
        body = path.read_bytes()
        categories = ET.fromstring(body).findtext("channel/link").rsplit("/", 1)[1].split("+")
        server.routes["/rss/" + "+".join(categories)] = recorded_reply(path)
        items = _rss_items(body)
        for keep in (everything, ["new", "cross"], ["new"]):
            source = ArxivRssSource(
                kind="arxiv_rss", url=server.url, categories=categories, announce_types=keep
            )
            collected, report = fetch_one(source)
            expected = [arxiv_id(guid) for guid, kind in items if kind in keep]
            assert [p.id for p in collected.papers] == expected, (path.name, keep)
            for paper in collected.papers:
                assert paper.authors and paper.categories and paper.published
                assert not paper.abstract.startswith("arXiv:") and "Announce Type" not in paper.abstract


def test_arxiv_rss_reads_abstracts_authors_and_old_style_ids(server):
    server.routes["/rss/cs.IR+hep-th"] = recorded_reply(FIXTURES / "arxiv_rss_small.xml")
    source = ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.IR", "hep-th"])
    collected, report = fetch_one(source)
    first, old = collected.papers  # replace and replace-cross are left out by default
    assert first.abstract == (
        "We show that recall improves when $k < 10$ & the tokenizer is \\textit{sparse}; "
        "x < y and z > w hold."
    )
    assert first.authors == ["Jane Doe", "Ravi Kumar", "Mei Chen"]
    assert first.categories == ["cs.IR", "cs.CL"]
    assert first.published == "2026-08-12T04:00:00Z"
    assert old.id == "hep-th/9901001"


def test_arxiv_rss_gives_no_papers_for_a_day_before_its_listing_and_says_to_use_the_api(server):
    # The feed (pubDate Wed 12 Aug 2026) holds only the latest announcements and takes no date.
    server.routes["/rss/cs.IR+hep-th"] = recorded_reply(FIXTURES / "arxiv_rss_small.xml")
    source = ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.IR", "hep-th"])
    past, report = fetch_one(source, date(2026, 8, 11))
    assert past.papers == [] and past.empty_day
    (warning,) = report.warnings
    assert "only its latest announcements (of 2026-08-12), not those of 2026-08-11" in warning
    assert "use kind: arxiv_api" in warning
    for day in (date(2026, 8, 12), date(2026, 8, 13)):  # its own day, and a reader's day ahead of it
        assert len(fetch_one(source, day)[0].papers) == 2, day


# --- any feed -------------------------------------------------------------------------------


def test_every_recorded_third_party_feed_recognises_arxiv_ids(server, shared_fixtures):
    files = sorted((shared_fixtures / "extras_hf_rss").glob("*.xml"))
    assert len(files) == 2
    for path in files:
        server.routes["/feed.xml"] = recorded_reply(path)
        items = list(ET.fromstring(path.read_bytes()).iter("item"))
        collected, report = fetch_one(FeedSource(kind="feed", url=server.url + "/feed.xml"))
        assert report.ok and report.papers == len(items) and not report.warnings, path.name
        for item, paper in zip(items, collected.papers, strict=True):
            assert paper.id == arxiv_id(item.findtext("link")) and paper.pdf_url
            assert paper.title == item.findtext("title") and paper.abstract
            assert not re.search(r"<[a-z/]|&amp;", paper.abstract)  # text, not HTML
            upvotes = re.search(r"<b>Upvotes:</b>\s*(\d+)", item.findtext("description"))
            assert paper.upvotes == (int(upvotes.group(1)) if upvotes else None)
        if "feedgen" in path.name:  # the rendering that carries upvotes, authors, thumbnails
            assert all(p.upvotes is not None and p.authors and p.thumbnail for p in collected.papers)


def test_feed_recognises_arxiv_links_turns_html_to_text_and_skips_untitled_entries(server):
    server.routes["/list.atom"] = recorded_reply(FIXTURES / "feed_small.xml")
    collected, report = fetch_one(FeedSource(kind="feed", url=server.url + "/list.atom", name="reading list"))
    arxiv, blog = collected.papers
    assert arxiv.id == "hep-th/9901001" and arxiv.url == "https://arxiv.org/abs/hep-th/9901001v2"
    assert arxiv.title == "Strings on a Lattice <v2>"
    assert arxiv.abstract == "Worth a second look & a re-read.\nSecond paragraph."
    assert blog.id.startswith("title:") and blog.pdf_url is None
    assert report.warnings == [f"{server.url}/list.atom: entry 3: entry has no title; skipped"]


def test_feed_reads_labelled_fields_of_daily_paper_renderings(server):
    server.routes["/hf.xml"] = recorded_reply(FIXTURES / "feed_labelled.xml")
    collected, report = fetch_one(FeedSource(kind="feed", url=server.url + "/hf.xml"))
    (paper,) = collected.papers
    assert (paper.id, paper.upvotes, paper.authors) == ("2608.12313", 57, ["Jane Doe", "Ravi Kumar"])
    assert paper.abstract == "We study tokenizers & retrieval."
    assert paper.thumbnail == "https://example.org/thumbs/2608.12313.png"


# --- all together ---------------------------------------------------------------------------


def _small_world(server: ReplayServer) -> list:
    server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-12": FIXTURES / "hf_small.json"})
    server.routes["/api/query"] = recorded_reply(FIXTURES / "arxiv_api_small.xml")
    server.routes["/rss/cs.IR+hep-th"] = recorded_reply(FIXTURES / "arxiv_rss_small.xml")
    server.routes["/list.atom"] = recorded_reply(FIXTURES / "feed_small.xml")
    return [
        HFDailySource(kind="hf_daily", url=server.url),
        ArxivApiSource(kind="arxiv_api", url=server.url, query="cat:cs.IR"),
        ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.IR", "hep-th"]),
        FeedSource(kind="feed", url=server.url + "/list.atom", name="reading list"),
    ]


def test_sources_merge_by_versionless_id_combining_votes_and_categories(server):
    collected = sources.collect(_small_world(server), day=date(2026, 8, 12), options=FAST)
    assert all(r.ok for r in collected.reports)
    by_id = {p.id: p for p in collected.papers}
    tokenizers = by_id["2608.12313"]  # 2608.12313v2 on HF, v1 on the API and in the RSS feed
    assert tokenizers.upvotes == 42 and tokenizers.stars == 310  # from HF
    assert tokenizers.categories == ["cs.IR", "cs.CL"]  # from arXiv
    assert tokenizers.sources == ["hf_daily", "arxiv_api:cat:cs.IR", "arxiv_rss:cs.IR+hep-th"]
    strings = by_id["hep-th/9901001"]
    assert strings.sources == ["arxiv_api:cat:cs.IR", "arxiv_rss:cs.IR+hep-th", "reading list"]
    assert len(collected.papers) == len(by_id) == 4


def test_every_request_names_the_project_in_its_user_agent(server):
    sources.collect(_small_world(server), day=date(2026, 8, 12), options=FAST)
    agents = {r.headers["user-agent"] for r in server.requests}
    assert len(agents) == 1 and agents.pop().startswith("digest/")


def test_sources_are_fetched_at_the_same_time(server):
    # Each route holds its answer until all four requests are in: fetched one after another,
    # the first would wait alone, time out on the barrier and fail.
    barrier = threading.Barrier(4, timeout=5)

    def together(seen):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Reply(b"requests came one at a time", 503, "text/plain")
        return recorded_reply(FIXTURES / "feed_labelled.xml")

    for n in range(4):
        server.routes[f"/f{n}.xml"] = together
    feeds = [FeedSource(kind="feed", url=f"{server.url}/f{n}.xml", name=f"f{n}") for n in range(4)]
    collected = sources.collect(feeds, options=FAST)
    assert [r.error for r in collected.reports] == [None] * 4


def test_fetch_command_writes_json_lines_that_read_back_as_papers(server, tmp_path, cli):
    world = _small_world(server)
    config = {"sources": [s.model_dump(exclude_none=True) for s in world], "fetch": {"retries": 0}}
    (tmp_path / "digest.yaml").write_text(json.dumps(config))
    result = cli("fetch", "--date", "2026-08-12", "--out", "papers.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"hf_daily \(2026-08-12\)\s+2 papers fetched", result.stdout)
    assert "4 sources, 0 failed; 4 papers after merging -> papers.jsonl" in result.stdout
    papers = jsonlines.read(tmp_path / "papers.jsonl")
    assert {p.id for p in papers} == {
        "2608.12313",
        "2405.00001",
        "hep-th/9901001",
        "title:" + papers[-1].id[6:],
    }
    assert papers[0].upvotes == 42 and papers[0].categories == ["cs.IR", "cs.CL"]

    to_stdout = cli("fetch", "--date", "2026-08-12", cwd=tmp_path)
    assert to_stdout.returncode == 0
    assert [json.loads(line)["id"] for line in to_stdout.stdout.splitlines()] == [p.id for p in papers]
    assert "4 papers after merging" in to_stdout.stderr

    bad = cli("fetch", "--date", "12/08/2026", cwd=tmp_path)
    assert bad.returncode == 2 and "write YYYY-MM-DD" in bad.stderr


def test_fetch_out_to_a_pipe_writes_into_the_pipe_and_leaves_it_a_pipe(project, cli):
    # `--out /dev/stdout`, a named pipe, a device: the papers go into it; a temporary file
    # renamed over it would replace the pipe (or, as root, /dev/stdout itself).
    pipe = project / "papers.pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = cli("fetch", "--out", pipe, cwd=project)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    reader.join(timeout=60)
    assert len(received[0].decode().splitlines()) == 49


def test_bad_source_config_names_the_line_and_the_field(tmp_path, cli):
    (tmp_path / "digest.yaml").write_text(
        "sources:\n"
        "  - kind: hf_daily\n"
        "    url: ftp://example.org\n"
        "  - kind: arxiv_rss\n"
        "    categories: [cs.LG, not a category]\n"
        "  - kind: rss\n"
        "    url: https://example.org/feed\n"
        "  - kind: feed\n"
        "    link: https://example.org/feed\n"
    )
    result = cli("fetch", cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert "digest.yaml:3: sources[0].url: 'ftp://example.org' must be an absolute http(s) URL" in err
    assert "digest.yaml:5: sources[1].categories: 'not a category' is not an arXiv category" in err
    assert "digest.yaml:6: sources[2]: unknown kind 'rss'; use one of: file, hf_daily, arxiv_rss" in err
    assert "digest.yaml:9: unknown field 'sources[3].link'; known fields: name, kind, url" in err
    assert "Traceback" not in err
