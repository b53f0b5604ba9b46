"""What the network can do to a fetch, produced by a real server on loopback: every fault
ends in a report that names the source and what happened, never in a traceback, and the
other sources still come through."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from digest import sources
from digest.config import ArxivRssSource, FeedSource, Fetch, HFDailySource
from digest.sources import arxiv_rss
from digest.sources.httpclient import Client
from digest.store import LazyHttpCache, Location, open_database
from digest.util.retry import retry_after_seconds

from .conftest import EXAMPLE, FIXTURES
from .helpers_http import ReplayServer, Reply, gzip_bomb, hf_daily_papers, recorded_reply
from .helpers_processes import all_at_once

# Generous per-request time (shared, loaded machines); the hang tests set their own.
FAST = Fetch(timeout=5, retries=1, backoff=0.01, max_wait=5, max_bytes=1_000_000, max_redirects=3)
FEED = recorded_reply(FIXTURES / "feed_labelled.xml")
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>"


@pytest.fixture
def server():
    with ReplayServer() as running:
        yield running


def fetch_feed(server, path, reply, options=FAST, **client_args):
    server.routes[path] = reply
    source = FeedSource(kind="feed", url=server.url + path, name="the feed")
    with Client(options, **client_args) as client:
        collected = sources.collect([source], options=options, client=client)
    return collected.reports[0], collected.papers


class Waits(list):
    """Records how long the client chose to wait instead of waiting (a clock, not a server)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def collect_cached(listed: list, state: Path, *, readonly: bool = False):
    """Fetch with the HTTP cache of the SQLite file `state`, as `digest fetch` does."""
    cache = LazyHttpCache(Location("sqlite", path=state), readonly=readonly)
    try:
        return sources.collect(listed, options=FAST, cache=cache)
    finally:
        cache.close()


def test_server_error_is_retried_then_reported(server):
    report, papers = fetch_feed(server, "/f", Reply(b"boom", 500, "text/plain"), sleep=Waits())
    assert report.error == f"{server.url}/f: HTTP 500 Internal Server Error (gave up after 2 attempts)"
    assert len(server.hits("/f")) == 2 and papers == []


def test_not_found_is_not_retried(server):
    report, _ = fetch_feed(server, "/f", Reply(b"no", 404, "text/plain"))
    assert report.error.endswith("HTTP 404 Not Found") and len(server.hits("/f")) == 1


def test_429_waits_as_long_as_retry_after_says_then_succeeds(server):
    answers = iter([Reply(b"slow down", 429, "text/plain", headers={"Retry-After": "3"}), FEED])
    waits = Waits()
    report, papers = fetch_feed(server, "/f", lambda seen: next(answers), sleep=waits)
    assert report.ok and len(papers) == 1
    assert len(waits) == 1 and waits[0] >= 3  # the server's wish, not the 0.01 s backoff


def test_429_asking_for_longer_than_max_wait_gives_up_at_once(server):
    reply = Reply(b"", 429, "text/plain", headers={"Retry-After": "3600"})
    report, _ = fetch_feed(server, "/f", reply, sleep=Waits())
    assert (
        "HTTP 429" in report.error and "asks to wait 3600s, longer than fetch.max_wait (5s)" in report.error
    )
    assert len(server.hits("/f")) == 1


def test_retry_after_may_be_an_http_date():
    from datetime import UTC, datetime

    now = datetime(2026, 8, 12, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 12 Aug 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("soon", now) is None


def test_backoff_grows_exponentially_with_jitter(server):
    waits = Waits()
    options = Fetch(timeout=1, retries=4, backoff=1, max_wait=60)
    fetch_feed(server, "/f", Reply(b"", 503, "text/plain"), options, sleep=waits)
    assert len(waits) == 4
    for n, wait in enumerate(waits):
        assert 2**n / 2 <= wait <= 2**n  # between half and all of backoff * 2^n


def test_unchanged_feed_costs_a_304_and_still_gives_its_papers(server, tmp_path):
    state = tmp_path / "state.db"
    server.routes["/f"] = Reply(FEED.body, content_type="application/rss+xml", etag='"v1"')
    source = FeedSource(kind="feed", url=server.url + "/f")
    first = collect_cached([source], state)
    second = collect_cached([source], state)
    assert [r.cached for r in first.reports + second.reports] == [False, True]
    assert server.hits("/f")[1].headers["if-none-match"] == '"v1"'
    assert [p.to_dict() for p in second.papers] == [p.to_dict() for p in first.papers]
    rows = sqlite3.connect(state).execute("SELECT url, etag FROM http_cache").fetchall()
    assert rows == [(server.url + "/f", '"v1"')]


def test_a_readonly_run_uses_the_cache_but_stores_nothing(server, tmp_path):
    state = tmp_path / "state.db"
    server.routes["/f"] = Reply(FEED.body, content_type="application/rss+xml", etag='"v1"')
    source = FeedSource(kind="feed", url=server.url + "/f")
    collect_cached([source], state, readonly=True)
    assert not state.exists()
    collect_cached([source], state)
    again = collect_cached([source], state, readonly=True)
    assert again.reports[0].cached is True and len(again.papers) == 1


def test_304_with_nothing_cached_is_reported(server):
    report, _ = fetch_feed(server, "/f", Reply(b"", 304))
    assert report.error == f"{server.url}/f: answered 304 Not Modified, but nothing was cached"


def test_hanging_response_times_out(server):
    options = FAST.model_copy(update={"timeout": 0.3})
    report, _ = fetch_feed(server, "/f", Reply(b"<rss/>", hang=True), options, sleep=Waits())
    assert report.error == f"{server.url}/f: no answer within 0.3s (timed out) (gave up after 2 attempts)"


def test_truncated_body_is_reported_not_half_parsed(server):
    report, papers = fetch_feed(server, "/f", Reply(FEED.body, truncate_to=200), sleep=Waits())
    assert "the connection broke off mid-response" in report.error and papers == []


def test_html_instead_of_json_says_what_came(server):
    server.routes["/api/daily_papers"] = Reply(HTML_PAGE, content_type="text/html; charset=utf-8")
    source = HFDailySource(kind="hf_daily", url=server.url)
    report = sources.collect([source], day=date(2026, 8, 12), options=FAST).reports[0]
    assert (
        "expected a JSON array of papers, got an HTML page; starts '<!DOCTYPE html> <html><head>"
        in report.error
    )


def test_json_error_object_is_reported_in_the_apis_words(server):
    server.routes["/api/daily_papers"] = Reply(b'{"error": "Invalid date format"}')
    source = HFDailySource(kind="hf_daily", url=server.url)
    report = sources.collect([source], day=date(2026, 8, 12), options=FAST).reports[0]
    assert report.error.endswith("the API answered with an error: Invalid date format")


def test_malformed_xml_fails_an_arxiv_feed_but_a_lenient_feed_keeps_what_it_read(server):
    broken = Reply((FIXTURES / "malformed.xml").read_bytes(), content_type="application/rss+xml")
    server.routes["/rss/cs.LG"] = broken
    arxiv = sources.collect(
        [ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.LG"])], options=FAST
    )
    assert (
        "malformed XML at line 4, column 62 (unclosed token)" in arxiv.reports[0].error and not arxiv.papers
    )

    report, papers = fetch_feed(server, "/f", broken)
    assert report.ok and [p.id for p in papers] == ["2608.00001"]
    assert (
        "not well-formed XML at line 4, column 62" in report.warnings[0]
        and "kept the 1 entries" in report.warnings[0]
    )


def test_html_page_instead_of_a_feed_is_reported(server):
    report, _ = fetch_feed(server, "/f", Reply(HTML_PAGE, content_type="text/html"))
    assert report.error == (
        f"{server.url}/f: expected an RSS or Atom feed, got an HTML page; "
        "starts '<!DOCTYPE html> <html><head><title>Sign in</title></head><bo...'"
    )


def test_gzip_bomb_stops_at_the_size_cap_after_decompression(server):
    bomb = gzip_bomb(64 << 20)
    assert len(bomb) < 100_000  # small on the wire, 64 MB inflated
    report, _ = fetch_feed(
        server, "/f", Reply(bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"})
    )
    assert (
        report.error == f"{server.url}/f: the response grew past fetch.max_bytes (1.0 MB) after decompression"
    )


def test_gzip_within_the_cap_is_read(server):
    report, papers = fetch_feed(server, "/f", Reply(FEED.body, content_type="application/rss+xml", gzip=True))
    assert report.ok and len(papers) == 1


def test_declared_length_over_the_cap_is_refused_before_reading(server):
    report, _ = fetch_feed(server, "/f", Reply(b"x" * 1_500_000, content_type="application/rss+xml"))
    assert report.error == f"{server.url}/f: the response is 1.5 MB, over fetch.max_bytes (1.0 MB)"


def test_unasked_content_encoding_is_refused(server):
    reply = Reply(FEED.body, content_type="application/rss+xml", headers={"Content-Encoding": "br"})
    report, _ = fetch_feed(server, "/f", reply)
    assert report.error.endswith("sent Content-Encoding 'br', which digest did not ask for")


def test_redirect_loop_is_cut_at_max_redirects(server):
    report, _ = fetch_feed(server, "/loop", Reply(b"", 302, headers={"Location": "/loop"}))
    assert report.error == f"{server.url}/loop: more than 3 redirects (a redirect loop?)"
    assert len(server.hits("/loop")) == 4


def test_a_redirect_is_followed(server):
    server.routes["/new"] = FEED
    report, papers = fetch_feed(server, "/old", Reply(b"", 301, headers={"Location": "/new"}))
    assert report.ok and len(papers) == 1


def test_a_body_that_names_a_local_file_is_data_not_a_path(server, tmp_path):
    secret = tmp_path / "local.xml"
    secret.write_bytes(FEED.body)  # a valid feed: if it were opened, its paper would appear
    report, papers = fetch_feed(server, "/f", Reply(str(secret).encode(), content_type="application/rss+xml"))
    assert papers == [] and f"starts '{str(secret)[:40]}" in report.error


def test_unreachable_host_is_reported(server):
    options = Fetch(timeout=0.3, retries=0)
    dead = ReplayServer()
    url = dead.url  # bound but never served, then closed: nothing listens there
    dead._http.server_close()
    collected = sources.collect([FeedSource(kind="feed", url=url + "/f")], options=options)
    assert collected.reports[0].error.startswith(f"{url}/f: cannot connect")


def test_a_parser_bug_is_reported_and_the_other_sources_still_come_through(server, monkeypatch):
    # A fault no server can produce: a bug in one source kind's code.
    def broken(source, client, day):
        raise KeyError("paper")

    monkeypatch.setattr(arxiv_rss, "fetch", broken)
    server.routes["/f"] = FEED
    collected = sources.collect(
        [
            ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.LG"]),
            FeedSource(kind="feed", url=server.url + "/f"),
        ],
        options=FAST,
    )
    broken, fine = collected.reports
    assert broken.error == "unexpected KeyError: 'paper' (please report this as a bug)"
    assert fine.ok and len(collected.papers) == 1


# --- through the commands -------------------------------------------------------------------


FAULTS = {
    "/500": Reply(b"boom", 500, "text/plain"),
    "/429": Reply(b"", 429, "text/plain", headers={"Retry-After": "1"}),
    "/hang": Reply(b"<rss/>", hang=True),
    "/truncated": Reply(FEED.body, truncate_to=100),
    "/html": Reply(HTML_PAGE, content_type="text/html"),
    "/bomb": Reply(
        gzip_bomb(32 << 20), content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
    ),
    "/loop": Reply(b"", 302, headers={"Location": "/loop"}),
}


def _project(tmp_path: Path, source_list: list[dict], **fetch) -> Path:
    config = {
        "newsletter": {"name": "Trending Papers", "timezone": "UTC"},
        "sources": source_list,
        "subscribers": str(EXAMPLE / "subscribers.yaml"),
        "fetch": {"timeout": 2, "retries": 0, "backoff": 0.01, "max_bytes": 1_000_000, **fetch},
    }
    (tmp_path / "digest.yaml").write_text(json.dumps(config))
    return tmp_path


def test_fetch_command_reports_every_fault_by_source_and_keeps_the_rest(server, tmp_path, cli):
    server.routes.update(FAULTS)
    server.routes["/good"] = FEED
    feeds = [{"kind": "feed", "url": server.url + path, "name": path[1:]} for path in [*FAULTS, "/good"]]
    result = cli("fetch", "--out", "papers.jsonl", cwd=_project(tmp_path, feeds))
    assert result.returncode == 1
    out = result.stdout
    expected = {
        "500": "HTTP 500 Internal Server Error",
        "429": "HTTP 429 Too Many Requests",
        "hang": "timed out",
        "truncated": "broke off mid-response",
        "html": "got an HTML page",
        "bomb": "after decompression",
        "loop": "more than 5 redirects",
    }
    for name, why in expected.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert "FAILED" in line and why in line, line
    assert "8 sources, 7 failed; 1 paper after merging -> papers.jsonl" in out
    assert len((tmp_path / "papers.jsonl").read_text().splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_fetch_command_writes_nothing_when_every_source_fails(server, tmp_path, cli):
    server.routes["/500"] = FAULTS["/500"]
    project = _project(tmp_path, [{"kind": "feed", "url": server.url + "/500"}])
    result = cli("fetch", "--out", "papers.jsonl", cwd=project)
    assert result.returncode == 1 and "every source failed: no papers written" in result.stdout
    assert not (tmp_path / "papers.jsonl").exists()


def test_send_sends_nothing_when_every_source_fails(server, tmp_path, cli):
    server.routes.update(FAULTS)
    feeds = [{"kind": "feed", "url": server.url + p, "name": p[1:]} for p in ("/500", "/html")]
    result = cli("send", "--now", "2026-08-12T07:00:00+00:00", cwd=_project(tmp_path, feeds))
    assert result.returncode == 1
    assert "no papers from any source for 2026-08-12: nothing was sent" in result.stderr
    assert "source 500 (2026-08-12):" in result.stderr and "source html (2026-08-12):" in result.stderr
    assert not (tmp_path / "outbox").exists()
    assert "Traceback" not in result.stderr


def test_preview_reports_every_source_failing_as_send_does_cause_first_and_exit_1(server, tmp_path, cli):
    server.routes.update(FAULTS)
    feeds = [{"kind": "feed", "url": server.url + p, "name": p[1:]} for p in ("/500", "/html")]
    project = _project(tmp_path, feeds)
    now = "2026-08-12T07:00:00+00:00"
    sent = cli("send", "--dry-run", "--now", now, cwd=project)
    previewed = cli("preview", "--out", "pv", "--now", now, cwd=project)
    assert (previewed.returncode, sent.returncode) == (1, 1)
    lines = previewed.stderr.splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [
        ["error", " source 500 (2026-08-12)"],
        ["error", " source html (2026-08-12)"],
        ["error", " no papers from any source for 2026-08-12"],
    ]  # one line per source and day, the cause before the effect, as send prints them
    assert [line for line in sent.stderr.splitlines() if "source 500" in line] == lines[:1]
    assert not (tmp_path / "pv").exists()


def test_send_goes_ahead_without_a_failed_source_and_says_so(server, tmp_path, cli):
    server.routes["/500"] = FAULTS["/500"]
    server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-12": FIXTURES / "hf_small.json"})
    project = _project(
        tmp_path,
        [{"kind": "hf_daily", "url": server.url}, {"kind": "feed", "url": server.url + "/500", "name": "x"}],
    )
    result = cli("send", "--now", "2026-08-12T07:00:00+00:00", cwd=project)
    assert result.returncode == 1 and "sent 3" in result.stdout
    assert f"error: source x (2026-08-12): {server.url}/500: HTTP 500" in result.stderr


NOON = "2026-08-14T12:00:00+00:00"


def test_preview_and_dry_run_after_fetch_read_the_state_file_fetch_made(server, tmp_path, cli):
    server.routes["/f"] = Reply(FEED.body, content_type="application/rss+xml", etag='"v1"')
    project = _project(tmp_path, [{"kind": "feed", "url": server.url + "/f"}])
    # Noon UTC: the example readers in London, New York and Tokyo share one date, so each
    # command asks the feed for one issue day.
    fetched = cli("fetch", "--date", "2026-08-14", "--out", "papers.jsonl", cwd=project)
    assert fetched.returncode == 0 and "1 source, 0 failed;" in fetched.stdout
    assert (project / ".digest" / "state.db").exists()
    preview = cli("preview", "--to", "ada@example.org", "--now", NOON, cwd=project)
    assert preview.returncode == 0, preview.stderr
    dry = cli("send", "--dry-run", "--now", NOON, cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert [r.headers.get("if-none-match") for r in server.hits("/f")] == [None, '"v1"', '"v1"']


# --- empty days -----------------------------------------------------------------------------


SATURDAY = "2026-08-15T07:00:00+00:00"
FRIDAY = "2026-08-14T07:00:00+00:00"


def _weekend_project(server, tmp_path, **fetch) -> Path:
    server.routes["/api/daily_papers"] = hf_daily_papers({"2026-08-14": FIXTURES / "hf_small_friday.json"})
    return _project(tmp_path, [{"kind": "hf_daily", "url": server.url}], **fetch)


def test_empty_day_skips_the_issue_by_default(server, tmp_path, cli):
    result = cli("send", "--now", SATURDAY, cwd=_weekend_project(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert (
        "no papers for 2026-08-15 from any source: no issue of 2026-08-15, nothing was sent" in result.stdout
    )
    assert not (tmp_path / "outbox").exists()
    assert [r.query["date"] for r in server.requests] == ["2026-08-15"]


def test_empty_day_can_use_the_days_before_without_repeating_a_paper(server, tmp_path, cli):
    project = _weekend_project(server, tmp_path, empty_day="lookback", lookback_days=2)
    result = cli("send", "--now", SATURDAY, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "no papers for 2026-08-15; using 2026-08-14 (fetch.empty_day: lookback)" in result.stdout
    assert "sent 3" in result.stdout
    assert sorted(r.query["date"] for r in server.requests) == ["2026-08-13", "2026-08-14", "2026-08-15"]


def test_lookback_offers_nothing_a_reader_already_had(server, tmp_path, cli):
    project = _weekend_project(server, tmp_path, empty_day="lookback", lookback_days=2)
    assert "sent 3" in cli("send", "--now", FRIDAY, cwd=project).stdout
    saturday = cli("send", "--now", SATURDAY, cwd=project)
    assert saturday.returncode == 0, saturday.stderr
    assert "sent 0, already sent 0, nothing new 3" in saturday.stdout


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Run the CLI with stderr on a real pseudo-terminal (where the status line shows)."""
    main, child = os.openpty()
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child's end is closed and everything was read
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "digest", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=child,
            timeout=120,
        )
    finally:
        os.close(child)
        reader.join(timeout=30)
        os.close(main)
    return result, shown.decode()


def test_fetch_progress_on_a_terminal_counts_the_lookback_fetches_in_its_total(server, tmp_path):
    project = _weekend_project(server, tmp_path, empty_day="lookback", lookback_days=2)
    result, terminal = _on_a_terminal(["fetch", "--date", "2026-08-15", "--out", "papers.jsonl"], project)
    assert result.returncode == 0, terminal
    counters = [tuple(map(int, c)) for c in re.findall(r"\[(\d+)/(\d+)\]", terminal)]
    assert [done for done, _ in counters] == [1, 2, 3]  # the day, then the two days before
    assert all(done <= total for done, total in counters), terminal


def test_malformed_entries_cost_only_themselves(server):
    good = json.loads((FIXTURES / "hf_small.json").read_text())[0]
    odd = [
        good,
        "not an object",
        {"paper": "a string"},
        {"paper": {"id": 5, "title": ["a", "list"]}},
        {
            "paper": {"id": "2401.00001", "title": "Odd Types", "authors": {"a": 1}, "upvotes": "many"},
            "mediaUrls": "x.png",
            "organization": 7,
            "numComments": -1,
        },
    ]
    server.routes["/api/daily_papers"] = Reply(json.dumps(odd).encode())
    source = HFDailySource(kind="hf_daily", url=server.url)
    collected = sources.collect([source], day=date(2026, 8, 12), options=FAST)
    (report,) = collected.reports
    assert report.ok and [p.id for p in collected.papers] == ["2608.12313", "2401.00001"]
    odd_paper = collected.papers[1]
    assert (odd_paper.authors, odd_paper.upvotes, odd_paper.comments, odd_paper.organization) == (
        [],
        None,
        None,
        None,
    )
    assert [w.split(": ", 1)[1] for w in report.warnings] == [
        "entry 2: expected an object; skipped",
        "entry 3: entry has no paper id; skipped",
        "entry 4: entry has no paper id; skipped",
    ]


def test_cache_forgets_entries_unused_for_two_weeks(server, tmp_path):
    state = tmp_path / "state.db"
    server.routes["/old"] = Reply(FEED.body, content_type="application/rss+xml", etag='"a"')
    server.routes["/new"] = Reply(FEED.body, content_type="application/rss+xml", etag='"b"')
    collect_cached([FeedSource(kind="feed", url=server.url + "/old")], state)
    with sqlite3.connect(state) as db:
        db.execute("UPDATE http_cache SET stored_at = '2020-01-01T00:00:00+00:00'")
    collect_cached([FeedSource(kind="feed", url=server.url + "/new")], state)
    urls = [u for (u,) in sqlite3.connect(state).execute("SELECT url FROM http_cache")]
    assert urls == [server.url + "/new"]


def test_an_unusable_state_file_turns_the_cache_off_not_the_fetch(server, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    server.routes["/f"] = Reply(FEED.body, content_type="application/rss+xml", etag='"v1"')
    collected = collect_cached(
        [FeedSource(kind="feed", url=server.url + "/f")], tmp_path / "not-a-folder" / "s.db"
    )
    assert collected.reports[0].ok and len(collected.papers) == 1
    (warning,) = collected.warnings
    assert warning.startswith(f"{tmp_path}/not-a-folder/s.db: HTTP cache off for this run (")


def _store_in_cache(path: Path, start) -> str | None:
    start.wait()
    cache = LazyHttpCache(Location("sqlite", path=path))
    cache.put("https://example.org/feed", '"v1"', None, b"body")
    cache.close()
    stored = open_database(Location("sqlite", path=path)).http_cache().get("https://example.org/feed")
    return cache.problem or (None if stored and stored.body == b"body" else "not stored")


def test_fetches_opening_a_new_state_file_at_the_same_moment_all_keep_their_cache(tmp_path):
    # Two `digest fetch` from cron on a fresh deployment: each switches the new file to WAL,
    # which answers "database is locked" at once to all but one unless they wait.
    assert all_at_once(_store_in_cache, tmp_path) == []


def test_fetch_command_says_when_it_cannot_write_the_output(server, tmp_path, cli):
    server.routes["/f"] = FEED
    project = _project(tmp_path, [{"kind": "feed", "url": server.url + "/f"}])
    (tmp_path / "file").write_text("")
    result = cli("fetch", "--out", "file/papers.jsonl", cwd=project)
    assert result.returncode == 2 and "digest: --out file/papers.jsonl: cannot write:" in result.stderr
    assert "Traceback" not in result.stderr
