"""The storage contract (digest/store/base.py), run on every engine: a SQLite file, a real
PostgreSQL server, and for the subscriber list the YAML file too. Whatever `send`, `web` and
`optin` rely on holds the same on each."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.readers.subscribers import (
    Bounce,
    ClearBounce,
    Confirm,
    Import,
    NotListed,
    Outcome,
    OwnerAdd,
    SignUp,
    Unsubscribe,
    Update,
)
from digest.store import Claim, Location, open_database
from digest.store.schema import LATEST
from digest.store.yamllist import YamlList

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ISSUE = "2026-11-26"


def _open(engine: str, tmp_path: Path, request) -> Location:
    if engine == "sqlite":
        return Location("sqlite", path=tmp_path / "state.db")
    url = request.getfixturevalue("postgres_url")
    with open_database(Location("postgresql", url=url), check=False) as db:
        db.upgrade()
    return Location("postgresql", url=url)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> Location:
    return _open(request.param, tmp_path, request)


@pytest.fixture
def db(location):
    with open_database(location) as opened:
        yield opened


@pytest.fixture
def other(location):
    """The same database as another process sees it: its own connections."""
    with open_database(location) as opened:
        yield opened


@pytest.fixture(params=["yaml", "sqlite", "postgresql"])
def listed(request, tmp_path):
    if request.param == "yaml":
        path = tmp_path / "subscribers.yaml"
        path.write_text("subscribers:\n")
        yield YamlList(path)
        return
    with open_database(_open(request.param, tmp_path, request)) as opened:
        yield opened.subscriber_table()


# --- the ledger ------------------------------------------------------------------------------


def test_a_row_claimed_by_a_live_run_is_busy_for_others_and_sent_for_everyone_once_delivered(db, other):
    with db.run() as mine, other.run() as theirs:
        assert db.claim(ISSUE, "ada@example.org", "<m1>", mine) == Claim.CLAIMED
        assert other.claim(ISSUE, "ADA@example.org", "<m1>", theirs) == Claim.BUSY
        db.mark_sent(ISSUE, "ada@example.org", ["2608.00001", "2608.00002"])
        assert other.claim(ISSUE, "ada@example.org", "<m1>", theirs) == Claim.SENT
    assert other.sent_to(ISSUE) == {"ada@example.org"}


def test_the_claims_of_a_run_that_has_ended_are_taken_over(db, other):
    with db.run() as gone:
        assert db.claim(ISSUE, "ada@example.org", "<m1>", gone) == Claim.CLAIMED
        assert other.alive(gone.id)
    assert not other.alive(gone.id)
    with other.run() as next_run:
        assert other.claim(ISSUE, "ada@example.org", "<m1>", next_run) == Claim.CLAIMED


def test_a_row_that_failed_is_claimed_again_and_a_sent_row_never(db):
    with db.run() as run:
        db.claim(ISSUE, "ada@example.org", "<m1>", run)
        db.mark_failed(ISSUE, "ada@example.org", "451 try later")
        assert db.claim(ISSUE, "ada@example.org", "<m1>", run) == Claim.CLAIMED
        db.mark_sent(ISSUE, "ada@example.org", [])
        assert db.claim(ISSUE, "ada@example.org", "<m1>", run) == Claim.SENT


def test_two_runs_claiming_the_same_readers_at_once_get_each_exactly_once(db, other):
    readers = [f"r{i}@example.org" for i in range(300)]
    won: dict[str, list[str]] = {"a": [], "b": []}

    def claim_all(name: str, handle) -> None:
        with handle.run() as run:
            for email in readers:
                if handle.claim(ISSUE, email, "<m>", run) == Claim.CLAIMED:
                    won[name].append(email)
                    handle.mark_sent(ISSUE, email, [])

    threads = [threading.Thread(target=claim_all, args=(n, h)) for n, h in (("a", db), ("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["a"] + won["b"]) == sorted(readers)


def test_claims_and_sent_marks_in_batches_say_what_one_at_a_time_would(db, other):
    with db.run() as run, other.run() as theirs:
        db.claim(ISSUE, "sent@example.org", "<m>", run)
        db.mark_sent(ISSUE, "sent@example.org", [])
        db.claim(ISSUE, "failed@example.org", "<m>", run)
        db.mark_failed(ISSUE, "failed@example.org", "451 try later")
        other.claim(ISSUE, "held@example.org", "<m>", theirs)
        rows = [(ISSUE, e, "<m>") for e in ("new@example.org", "Sent@example.org", "failed@example.org")]
        rows.append((ISSUE, "held@example.org", "<m>"))
        assert db.claim_all(rows, run) == [Claim.CLAIMED, Claim.SENT, Claim.CLAIMED, Claim.BUSY]
        db.mark_sent_all(
            [
                (ISSUE, "new@example.org", ["2611.1", "2611.2"], None, None),
                (ISSUE, "failed@example.org", ["2611.1"], "uncertain: timeout", NOW),
            ]
        )
    assert db.sent_to(ISSUE) == {"sent@example.org", "new@example.org", "failed@example.org"}
    assert db.papers_sent("new@example.org", except_issue="2026-11-27") == {"2611.1", "2611.2"}


def test_two_runs_claiming_batches_at_once_get_each_reader_exactly_once(db, other):
    readers = [f"r{i}@example.org" for i in range(300)]
    won: dict[str, list[str]] = {"a": [], "b": []}

    def claim_batches(name: str, handle) -> None:
        with handle.run() as run:
            for start in range(0, len(readers), 16):
                batch = readers[start : start + 16]
                claims = handle.claim_all([(ISSUE, email, "<m>") for email in batch], run)
                mine = [email for email, claim in zip(batch, claims, strict=True) if claim == Claim.CLAIMED]
                won[name] += mine
                handle.mark_sent_all([(ISSUE, email, ["2611.1"], None, None) for email in mine])

    threads = [threading.Thread(target=claim_batches, args=(n, h)) for n, h in (("a", db), ("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["a"] + won["b"]) == sorted(readers)


def test_history_leaves_out_this_issue_and_what_is_older_than_the_window(db):
    for issue, papers in (("2026-11-01", ["2608.1"]), ("2026-11-20", ["2608.2"]), (ISSUE, ["2608.3"])):
        db.claim(issue, "ada@example.org", "<m>")
        db.mark_sent(issue, "ada@example.org", papers)
    assert db.papers_sent("ADA@example.org", except_issue=ISSUE) == {"2608.1", "2608.2"}
    assert db.papers_sent("ada@example.org", except_issue=ISSUE, since="2026-11-10") == {"2608.2"}
    assert db.last_sent()["ada@example.org"].issue == ISSUE


def test_a_reader_keeps_the_time_they_were_first_seen(db):
    first, later = (datetime(2026, 8, 13, 5, 0, tzinfo=UTC), datetime(2026, 8, 14, 5, 0, tzinfo=UTC))
    db.mark_seen(["Ada@example.org", "grace@example.org"], first)
    db.mark_seen(["ada@example.org", "alan@example.org"], later)
    assert db.seen_readers() == {
        "ada@example.org": first,
        "grace@example.org": first,
        "alan@example.org": later,
    }


def test_a_first_run_over_a_long_list_marks_every_reader_seen_once(db):
    first, later = (datetime(2026, 8, 13, 5, 0, tzinfo=UTC), datetime(2026, 8, 14, 5, 0, tzinfo=UTC))
    db.mark_seen([f"r{i}@example.org" for i in range(0, 2500, 2)], first)  # more than one statement's worth
    db.mark_seen([f"r{i}@example.org" for i in range(2500)], later)
    seen = db.seen_readers()
    assert len(seen) == 2500
    assert {seen[f"r{i}@example.org"] for i in range(0, 2500, 2)} == {first}
    assert {seen[f"r{i}@example.org"] for i in range(1, 2500, 2)} == {later}


def test_an_issue_with_nothing_new_is_kept_per_reader_with_what_it_was_built_from(db):
    db.mark_nothing_new(ISSUE, "Ada@example.org", "papers1 entry1")
    db.mark_nothing_new(ISSUE, "ada@example.org", "papers2 entry1")  # built again from other papers
    db.mark_nothing_new("2026-11-27", "grace@example.org", "papers3 entry2")
    assert db.nothing_new(ISSUE) == {"ada@example.org": "papers2 entry1"}
    assert db.nothing_new("2026-11-28") == {}


def test_a_bounce_is_kept_with_its_reason_until_it_is_cleared(db):
    db.claim(ISSUE, "ada@example.org", "<m>")
    db.mark_bounced(ISSUE, "ada@example.org", 550, "550 5.1.1 User unknown")
    assert db.bounced() == {"ada@example.org": "550 5.1.1 User unknown"}
    (bounce,) = db.bounces()
    assert (bounce.code, bounce.issue) == (550, ISSUE)
    assert db.clear_bounce("Ada@example.org") and not db.clear_bounce("ada@example.org")
    assert db.bounced() == {}


# --- rate limits and the HTTP cache -------------------------------------------------------------


def test_a_rate_limit_counts_events_within_its_window_only(db):
    allowed = [db.allow("ip", "k", now=t, window=10, limit=2) for t in (0.0, 1.0, 2.0, 10.5, 11.0, 11.2)]
    assert allowed == [True, True, False, True, True, False]  # a refused event is not counted
    assert db.allow("ip", "another key", now=2.0, window=10, limit=2)


def test_the_http_cache_keeps_validators_with_the_body_and_a_readonly_one_stores_nothing(db):
    readonly = db.http_cache(readonly=True)
    readonly.put("https://example.org/feed", '"v0"', None, b"ignored")
    assert readonly.get("https://example.org/feed") is None
    cache = db.http_cache()
    cache.put("https://example.org/feed", '"v1"', "Thu, 26 Nov 2026 07:00:00 GMT", b"\x00body")
    found = cache.get("https://example.org/feed")
    assert (found.etag, found.last_modified, found.body) == (
        '"v1"',
        "Thu, 26 Nov 2026 07:00:00 GMT",
        b"\x00body",
    )
    assert cache.problem is None


def test_the_schema_is_at_the_latest_version(db):
    assert db.version() == LATEST


def test_a_postgres_database_without_the_schema_asks_for_digest_db_upgrade(postgres_url):
    where = Location("postgresql", url=postgres_url)
    with pytest.raises(DigestError, match=r"no digest tables yet: run `digest db upgrade`"):
        open_database(where)
    with open_database(where, check=False) as db:
        assert len(db.upgrade()) == LATEST
        assert db.upgrade() == []  # twice is harmless
    open_database(where).close()


# --- the subscriber list: the rules, on every store ----------------------------------------------


def test_a_sign_up_makes_a_pending_entry_whose_preferences_a_stranger_cannot_change(listed):
    first = listed.apply("kenji@example.org", SignUp({"topics": ["retrieval"]}), now=NOW)
    assert first.outcome is Outcome.PENDING and first.after.status == "pending"
    again = listed.apply("KENJI@example.org", SignUp({"topics": ["robotics"], "send_at": "05:00"}), now=NOW)
    assert again.outcome is Outcome.PENDING  # the confirmation goes again, nothing else changes
    kenji = listed.find("kenji@example.org")
    assert (kenji.status, kenji.topics, kenji.send_at) == ("pending", ["retrieval"], "07:00")


def test_a_confirmation_activates_and_a_link_older_than_the_unsubscribe_does_not_resubscribe(listed):
    listed.apply("kenji@example.org", SignUp(), now=NOW)
    asked = NOW + timedelta(minutes=1)
    assert listed.apply("kenji@example.org", Confirm(asked), now=NOW + timedelta(minutes=5)).outcome is (
        Outcome.ACTIVATED
    )
    left = NOW + timedelta(hours=1)
    assert listed.apply("kenji@example.org", Unsubscribe(), now=left).outcome is Outcome.UNSUBSCRIBED
    stale = listed.apply("kenji@example.org", Confirm(asked), now=left + timedelta(minutes=1))
    assert stale.outcome is Outcome.STALE and listed.find("kenji@example.org").status == "unsubscribed"
    # they ask again (the stranger's sign-up path): still unsubscribed until the new link is opened
    assert (
        listed.apply("kenji@example.org", SignUp(), now=left + timedelta(hours=1)).outcome is Outcome.PENDING
    )
    assert listed.find("kenji@example.org").status == "unsubscribed"
    fresh = listed.apply(
        "kenji@example.org", Confirm(left + timedelta(hours=1)), now=left + timedelta(hours=2)
    )
    assert fresh.outcome is Outcome.ACTIVATED and listed.find("kenji@example.org").status == "active"


def test_nobody_but_the_owner_clearing_it_reactivates_a_bounced_address(listed):
    listed.apply("gone@example.org", OwnerAdd(), now=NOW)
    assert listed.apply("gone@example.org", Bounce(), now=NOW).outcome is Outcome.BOUNCED
    for event in (SignUp(), OwnerAdd(), Confirm(NOW + timedelta(days=1)), Import({"status": "active"})):
        listed.apply("gone@example.org", event, now=NOW + timedelta(days=1))
        assert listed.find("gone@example.org").status == "bounced", event
    assert listed.apply("gone@example.org", ClearBounce(), now=NOW).outcome is Outcome.CLEARED
    assert listed.find("gone@example.org").status == "active"


def test_the_owner_cannot_resubscribe_someone_who_left_but_an_import_can_unsubscribe(listed):
    listed.apply("left@example.org", OwnerAdd(), now=NOW)
    listed.apply("left@example.org", Unsubscribe(), now=NOW)
    refused = listed.apply("left@example.org", OwnerAdd({"name": "Left"}), now=NOW)
    assert refused.outcome is Outcome.REFUSED and "unsubscribed on 2026-11-26" in refused.reason
    kept = listed.apply("left@example.org", Import({"status": "active", "name": "Left"}), now=NOW)
    assert (
        kept.after.status == "unsubscribed"
        and kept.after.name == "Left"
        and "kept unsubscribed" in kept.reason
    )
    listed.apply("stays@example.org", OwnerAdd(), now=NOW)
    listed.apply("stays@example.org", Import({"status": "unsubscribed"}), now=NOW)
    assert listed.find("stays@example.org").status == "unsubscribed"


def test_the_readers_page_keeps_their_preferences_and_a_change_to_no_address_is_refused(listed):
    listed.apply("ada@example.org", OwnerAdd({"topics": ["retrieval"]}), now=NOW)
    changed = listed.apply("ada@example.org", Update({"keywords": ["rag"], "send_at": "06:15"}), now=NOW)
    assert changed.outcome is Outcome.UPDATED
    ada = listed.find("ada@example.org")
    assert (ada.topics, ada.keywords, ada.send_at, ada.status) == (["retrieval"], ["rag"], "06:15", "active")
    with pytest.raises(NotListed):
        listed.apply("nobody@example.org", Unsubscribe(), now=NOW)


def test_a_change_the_model_refuses_writes_nothing(listed):
    listed.apply("ada@example.org", OwnerAdd(), now=NOW)
    before = listed.signature()
    with pytest.raises(DigestError, match="unknown time zone 'Mars/Base'"):
        listed.apply("ada@example.org", Update({"timezone": "Mars/Base"}), now=NOW)
    with pytest.raises(DigestError, match="unknown time zone"):
        listed.apply_all(
            [("new@example.org", Import({})), ("ada@example.org", Import({"timezone": "Mars/Base"}))], now=NOW
        )
    assert listed.find("new@example.org") is None and listed.signature() == before


def test_readers_come_in_the_order_they_were_added_and_every_change_moves_the_signature(listed):
    n = 1205 if not isinstance(listed, YamlList) else 40  # past a database page of 1000
    seen = []
    listed.apply_all(((f"r{i:05d}@example.org", Import({})) for i in range(n)), now=NOW, each=seen.append)
    assert [c.outcome for c in seen] == [Outcome.ADDED] * n
    assert [r.email for r in listed.readers()] == [f"r{i:05d}@example.org" for i in range(n)]
    before = listed.signature()
    listed.apply("r00003@example.org", Unsubscribe(), now=NOW)
    assert listed.signature() != before


def test_an_internationalised_address_is_found_whichever_form_it_is_typed_in(listed):
    listed.apply("idn@bücher.example", OwnerAdd(), now=NOW)
    for typed in ("IDN@xn--bcher-kva.example", "idn@bu\u0308cher.example", "idn@BÜCHER.example"):
        assert listed.find(typed) is not None, typed
    listed.apply("idn@xn--bcher-kva.example", Unsubscribe(), now=NOW)
    assert [r.status for r in listed.readers()] == ["unsubscribed"]


# --- readers' own papers ---------------------------------------------------------------------------


def test_a_library_is_replaced_whole_and_feedback_keeps_the_latest_vote_with_the_papers_text(db):
    db.remember_papers(
        [("2608.1", "Sparse attention", "We make attention sparse.", "https://arxiv.org/abs/2608.1")]
    )
    assert db.set_library("Ada@example.org", [("1706.03762", "Attention", "Abstract."), ("x", "X", "")]) == 2
    assert db.set_library("ada@example.org", [("1810.04805", "BERT", "Abstract.")]) == 1
    assert db.library("ADA@example.org") == [("1810.04805", "BERT", "Abstract.")]
    db.record_feedback("ada@example.org", "2608.1", 1)
    db.record_feedback("ada@example.org", "2608.1", -1)
    assert db.feedback("ada@example.org") == [("2608.1", -1, "Sparse attention", "We make attention sparse.")]
    assert db.paper("2608.1") == (
        "Sparse attention",
        "We make attention sparse.",
        "https://arxiv.org/abs/2608.1",
    )


def test_a_stored_profile_goes_out_of_date_when_the_library_or_a_vote_changes(db):
    assert db.profile("ada@example.org") is None
    db.store_profile("ada@example.org", "stored", '{"p": {}}')
    assert db.profile("ada@example.org") == ("stored", '{"p": {}}')
    db.record_feedback("ada@example.org", "2608.1", 1)
    assert db.profile("ada@example.org") == (None, None)
    db.store_profile("ada@example.org", "stored", '{"p": {}}')
    db.set_library("ada@example.org", [])
    assert db.profile("ada@example.org") == (None, None)


def test_a_written_tldr_is_found_by_its_paper_model_and_text_and_by_nothing_else(db):
    assert db.tldrs("llama3", [("2608.00001", "h1")]) == {}
    db.store_tldr("2608.00001", "llama3", "h1", "It does a thing.")
    db.store_tldr("2608.00001", "llama3", "h1", "It does the thing.")  # written again: the latest
    assert db.tldrs("llama3", [("2608.00001", "h1"), ("2608.00002", "h1")]) == {
        "2608.00001": "It does the thing."
    }
    assert db.tldrs("llama3", [("2608.00001", "h2")]) == {}  # the text changed
    assert db.tldrs("qwen", [("2608.00001", "h1")]) == {}  # another model


def test_a_papers_signals_keep_one_snapshot_a_day_and_the_latest_earlier_one_is_found(db):
    db.record_signals("2026-08-10", [("2608.00001", 2, 0, None), ("2608.00002", 60, 4, 10)])
    db.record_signals("2026-08-11", [("2608.00001", 20, 1, None)])
    db.record_signals("2026-08-11", [("2608.00001", 40, 1, None), ("2608.00003", None, None, None)])
    rows = db.read("SELECT paper_id, day, upvotes FROM paper_signals ORDER BY paper_id, day")
    assert rows == [
        ("2608.00001", "2026-08-10", 2),
        ("2608.00001", "2026-08-11", 40),
        ("2608.00002", "2026-08-10", 60),
    ]
    assert db.signals_before("2026-08-12", ["2608.00001", "2608.00002", "2608.00003"]) == {
        "2608.00001": ("2026-08-11", 40, 1, None),
        "2608.00002": ("2026-08-10", 60, 4, 10),
    }
    assert db.signals_before("2026-08-11", ["2608.00001"]) == {"2608.00001": ("2026-08-10", 2, 0, None)}


def test_a_readers_feed_key_stays_until_renewed_and_their_sent_issues_come_with_their_papers(db):
    key = db.feed_key("Ada@example.org")
    assert db.feed_key("ada@example.org") == key == db.current_feed_key("ada@example.org")
    assert db.feed_key("ada@example.org", renew=True) not in (key, None)
    assert db.current_feed_key("grace@example.org") is None
    db.remember_papers([("2608.00001", "A paper", "It does a thing.", "https://example.org/1")])
    for issue, papers in (("2026-11-25", ["2608.00001"]), ("2026-11-26", ["2608.00002"])):
        db.claim(issue, "ada@example.org", f"<{issue}>")
        db.mark_sent(issue, "ada@example.org", papers)
    db.claim("2026-11-27", "ada@example.org", "<27>")  # claimed, never sent: not in the feed
    sent = db.issues_sent("ada@example.org", 30)
    assert [(s.issue, s.papers) for s in sent] == [
        ("2026-11-26", [("2608.00002", "2608.00002", None, "")]),
        ("2026-11-25", [("2608.00001", "A paper", "https://example.org/1", "It does a thing.")]),
    ]
    assert [s.issue for s in db.issues_sent("ada@example.org", 1)] == ["2026-11-26"]


# --- the run history (digest/jobs/history.py, digest/jobs/watch.py) -------------------------------------


def test_runs_are_kept_newest_first_with_their_counts_and_errors_and_forgotten_after_keep_days(db):
    db.start_run("r1", "send", "2026-11-20T07:00:00+00:00", "box pid 1")
    db.end_run(
        "r1",
        ended="2026-11-20T07:00:05+00:00",
        issues=["2026-11-20"],
        counts={"sent": 0, "failed": 1},
        errors=["stopped: login failed"],
        exit=1,
    )
    db.start_run("r2", "inbox", "2026-11-26T07:00:00+00:00", "box pid 2")  # killed: never ended
    first, second = db.runs()
    assert (first.id, first.ended, first.exit, first.counts) == ("r2", None, None, {})
    assert second.issues == ["2026-11-20"] and second.counts == {"sent": 0, "failed": 1}
    assert second.errors == ["stopped: login failed"] and second.exit == 1 and second.host == "box pid 1"
    db.forget_before("2026-11-21T00:00:00+00:00")
    assert [r.id for r in db.runs()] == ["r2"]


def test_a_source_streak_counts_failed_days_back_to_the_last_good_one(db):
    at = "2026-11-26T07:00:00+00:00"
    for day, error in [("2026-11-22", "HTTP 500"), ("2026-11-23", None), ("2026-11-24", "HTTP 500"),
                       ("2026-11-25", "HTTP 500"), ("2026-11-26", "timeout")]:  # fmt: skip
        db.record_source_day("hf", day, error, at)
    assert db.failing_days("hf") == 3
    db.record_source_day("hf", "2026-11-26", None, at)  # a later run that day got an answer
    assert db.failing_days("hf") == 0


def test_a_problem_is_kept_once_a_day_and_stays_unsent_until_marked(db):
    at = "2026-11-26T07:00:00+00:00"
    assert db.note_problem("send failed", "2026-11-26", "login failed", "r1", at)
    assert not db.note_problem("send failed", "2026-11-26", "login failed again", "r2", at)
    assert db.note_problem("send failed", "2026-11-27", "login failed", "r3", at)
    assert [(r.day, r.line) for r in db.unsent_reports()] == [
        ("2026-11-26", "login failed"),
        ("2026-11-27", "login failed"),
    ]
    db.mark_reports([("send failed", "2026-11-26")], sent=None, error="relay down")
    assert db.unsent_reports()[0].error == "relay down"
    db.mark_reports([("send failed", "2026-11-26")], sent=at, error=None)
    assert [r.day for r in db.unsent_reports()] == ["2026-11-27"]


def test_the_ledger_keeps_when_each_readers_last_message_went_out(db):
    monday, tuesday = datetime(2026, 12, 7, 15, 5, tzinfo=UTC), datetime(2026, 12, 8, 15, 5, tzinfo=UTC)
    for issue, at in (("2026-12-07", monday), ("2026-12-08", tuesday)):
        db.claim(issue, "ada@example.org", "<m>")
        db.mark_sent(issue, "Ada@example.org", [], at=at)
    last = db.last_sent()["ada@example.org"]
    assert (last.issue, last.at) == ("2026-12-08", tuesday)


def test_a_refused_event_learns_how_long_until_the_limiter_admits_it(db):
    assert db.admit("ip", "k", now=100.0, window=60, limit=2) is None
    assert db.admit("ip", "k", now=130.0, window=60, limit=2) is None
    assert db.admit("ip", "k", now=140.0, window=60, limit=2) == 20.0  # the first leaves at 160
    assert db.admit("ip", "k", now=159.0, window=60, limit=2) == 1.0
    assert db.admit("ip", "k", now=160.0, window=60, limit=2) is None  # and it does
    assert db.admit("ip", "k", now=161.0, window=60, limit=2) == 29.0  # the one at 130 leaves next
