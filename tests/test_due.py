"""`digest send --due`: each reader gets the current issue at their own local time, once.

Readers in London, New York and Tokyo, runs at instants around their send times, each run
done twice (the second must send nothing), on an ordinary day and on the four DST change
days of 2026 (US: 8 March, 1 November; EU: 29 March, 25 October).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from digest import config as config_mod
from digest.jobs import send
from digest.models import Subscriber
from digest.readers.due import current, describe, last_slot, next_slot, runs_on, slot_on


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the pure slot arithmetic ----------------------------------------------------------------


def test_a_send_time_inside_the_spring_forward_gap_goes_out_just_after_the_gap():
    # New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    assert slot_on(date(2026, 3, 8), "02:30", "America/New_York") == utc("2026-03-08T07:30:00Z")  # 03:30 EDT
    assert slot_on(date(2026, 3, 7), "02:30", "America/New_York") == utc("2026-03-07T07:30:00Z")  # 02:30 EST
    assert slot_on(date(2026, 3, 9), "02:30", "America/New_York") == utc("2026-03-09T06:30:00Z")  # 02:30 EDT
    # London, 29 March 2026: 01:00 GMT jumps to 02:00 BST.
    assert slot_on(date(2026, 3, 29), "01:30", "Europe/London") == utc("2026-03-29T01:30:00Z")  # 02:30 BST


def test_a_send_time_that_happens_twice_on_fall_back_day_is_the_first():
    assert slot_on(date(2026, 11, 1), "01:30", "America/New_York") == utc("2026-11-01T05:30:00Z")  # EDT
    assert slot_on(date(2026, 10, 25), "01:30", "Europe/London") == utc("2026-10-25T00:30:00Z")  # BST


def test_the_same_local_time_moves_in_utc_across_a_dst_change():
    before = slot_on(date(2026, 3, 28), "07:00", "Europe/London")
    after = slot_on(date(2026, 3, 29), "07:00", "Europe/London")
    assert (before.hour, after.hour) == (7, 6)
    assert slot_on(date(2026, 3, 29), "06:45", "Asia/Tokyo") == utc("2026-03-28T21:45:00Z")  # no DST


def test_frequencies_pick_their_days():
    friday, saturday, monday = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 30)
    assert runs_on("weekdays", friday) and not runs_on("weekdays", saturday)
    assert runs_on("weekly:mon", monday) and not runs_on("weekly:mon", friday)
    weekly = Subscriber(email="w@example.org", frequency="weekly:mon", timezone="Asia/Tokyo")
    # Sunday 29 Nov 23:00 UTC is Monday 08:00 in Tokyo: this Monday's 07:00 slot has passed
    assert last_slot(weekly, utc("2026-11-29T23:00:00Z")).issue == "2026-11-30"
    assert next_slot(weekly, utc("2026-11-29T23:00:00Z")).issue == "2026-12-07"
    assert describe(weekly) == "every Monday at 07:00, Asia/Tokyo time"


def test_a_slot_before_the_reader_subscribed_is_not_owed():
    reader = Subscriber(
        email="a@example.org", timezone="Europe/London", confirmed=utc("2026-11-26T15:00:00Z")
    )
    assert current(reader, utc("2026-11-26T16:00:00Z")) is None  # 07:00 today came before they joined
    assert current(reader, utc("2026-11-27T07:00:00Z")).issue == "2026-11-27"


# --- send --due, run twice at every instant --------------------------------------------------


def project_with(project: Path, readers: list[dict], created: str) -> Path:
    entries = [{**r, "created": created} for r in readers]
    (project / "subscribers.yaml").write_text(yaml.safe_dump({"subscribers": entries}, sort_keys=False))
    return project


def delivered(paths: list[str]) -> set[tuple[str, str]]:
    return {(Path(p).stem.split("@")[0], Path(p).parent.name) for p in paths}


LONDON = {"email": "london@example.org", "timezone": "Europe/London", "send_at": "07:00"}
NEW_YORK = {"email": "ny@example.org", "timezone": "America/New_York", "send_at": "08:30"}
TOKYO = {"email": "tokyo@example.org", "timezone": "Asia/Tokyo", "send_at": "06:45"}
NY_EARLY = {"email": "ny-early@example.org", "timezone": "America/New_York", "send_at": "02:30"}
NY_NIGHT = {"email": "ny-night@example.org", "timezone": "America/New_York", "send_at": "01:30"}
LONDON_NIGHT = {"email": "london-night@example.org", "timezone": "Europe/London", "send_at": "01:30"}

# (readers, created, [(now, {(reader, issue) sent by the first run at `now`})])
DST_DAYS = {
    "US spring forward, 8 March": (
        [NY_EARLY, NEW_YORK, LONDON, TOKYO],
        "2026-03-07T14:00:00Z",
        [
            ("2026-03-07T21:45:00Z", {("tokyo", "2026-03-08")}),
            ("2026-03-08T07:00:00Z", {("london", "2026-03-08")}),
            ("2026-03-08T07:29:00Z", set()),  # 03:29 EDT: 02:30 never happened
            ("2026-03-08T07:30:00Z", {("ny-early", "2026-03-08")}),  # 03:30 EDT
            ("2026-03-08T12:29:00Z", set()),
            ("2026-03-08T12:30:00Z", {("ny", "2026-03-08")}),  # 08:30 EDT, an hour earlier in UTC
            # 02:30 EDT; and Tokyo's 9 March slot (21:45Z on the 8th) passed with no run since
            ("2026-03-09T06:30:00Z", {("ny-early", "2026-03-09"), ("tokyo", "2026-03-09")}),
        ],
    ),
    "EU spring forward, 29 March": (
        [LONDON_NIGHT, LONDON, NEW_YORK, TOKYO],
        "2026-03-28T14:00:00Z",
        [
            ("2026-03-28T21:45:00Z", {("tokyo", "2026-03-29")}),
            ("2026-03-29T01:29:00Z", set()),
            ("2026-03-29T01:30:00Z", {("london-night", "2026-03-29")}),  # 02:30 BST
            ("2026-03-29T05:59:00Z", set()),
            ("2026-03-29T06:00:00Z", {("london", "2026-03-29")}),  # 07:00 BST
            ("2026-03-29T12:30:00Z", {("ny", "2026-03-29")}),
            ("2026-03-30T00:30:00Z", {("london-night", "2026-03-30"), ("tokyo", "2026-03-30")}),
        ],
    ),
    "EU fall back, 25 October": (
        [LONDON_NIGHT, LONDON, NEW_YORK, TOKYO],
        "2026-10-24T14:00:00Z",
        [
            ("2026-10-24T21:45:00Z", {("tokyo", "2026-10-25")}),
            ("2026-10-25T00:30:00Z", {("london-night", "2026-10-25")}),  # the first 01:30 (BST)
            ("2026-10-25T01:30:00Z", set()),  # the second 01:30 (GMT): already sent
            ("2026-10-25T06:00:00Z", set()),  # 06:00 GMT
            ("2026-10-25T07:00:00Z", {("london", "2026-10-25")}),
            ("2026-10-25T12:30:00Z", {("ny", "2026-10-25")}),  # New York still on EDT
        ],
    ),
    "US fall back, 1 November": (
        [NY_NIGHT, NEW_YORK, LONDON, TOKYO],
        "2026-10-31T14:00:00Z",
        [
            ("2026-10-31T21:45:00Z", {("tokyo", "2026-11-01")}),
            ("2026-11-01T05:30:00Z", {("ny-night", "2026-11-01")}),  # the first 01:30 (EDT)
            ("2026-11-01T06:30:00Z", set()),  # the second 01:30 (EST)
            ("2026-11-01T07:00:00Z", {("london", "2026-11-01")}),
            ("2026-11-01T12:30:00Z", set()),  # 07:30 EST
            ("2026-11-01T13:30:00Z", {("ny", "2026-11-01")}),  # 08:30 EST
            ("2026-11-02T06:30:00Z", {("ny-night", "2026-11-02"), ("tokyo", "2026-11-02")}),
        ],
    ),
}


@pytest.mark.parametrize("day", list(DST_DAYS))
def test_due_sends_once_at_each_local_time_on_dst_change_days(project, day):
    readers, created, steps = DST_DAYS[day]
    config = config_mod.load(project_with(project, readers, created) / "digest.yaml")
    for now, expected in steps:
        first = send.run(config, now=utc(now), due=True)
        assert (delivered(first.delivered_to), first.failed) == (expected, 0), now
        again = send.run(config, now=utc(now), due=True)
        assert (again.sent, again.delivered_to) == (0, []), now


def test_send_due_from_the_cli_on_an_ordinary_day_in_three_time_zones(project, cli):
    project_with(project, [LONDON, NEW_YORK, TOKYO], "2026-11-25T14:00:00Z")
    steps = [
        ("2026-11-25T21:44:00Z", set()),
        ("2026-11-25T21:45:00Z", {("tokyo", "2026-11-26")}),  # 06:45 on the 26th in Tokyo
        ("2026-11-26T06:59:00Z", set()),
        ("2026-11-26T07:00:00Z", {("london", "2026-11-26")}),
        ("2026-11-26T13:29:00Z", set()),
        ("2026-11-26T13:30:00Z", {("ny", "2026-11-26")}),  # 08:30 EST
        ("2026-11-26T21:45:00Z", {("tokyo", "2026-11-27")}),
        # cron was down all day: London's 07:00 is 11 hours late, within the catch-up window
        ("2026-11-27T18:00:00Z", {("london", "2026-11-27"), ("ny", "2026-11-27")}),
    ]
    outbox = project / "outbox"
    seen: set[Path] = set()
    for now, expected in steps:
        for attempt in (1, 2):
            result = cli("send", "--due", "--now", now, cwd=project)
            assert result.returncode == 0, result.stderr
            new = set(outbox.glob("*/*.eml")) - seen if outbox.exists() else set()
            seen |= new
            assert delivered([str(p) for p in new]) == (expected if attempt == 1 else set()), (now, attempt)
            if attempt == 2:
                assert "sent 0," in result.stdout
    # one message per reader per local day, each dated by that reader's calendar
    assert len(seen) == 6


def test_a_reader_never_gets_an_older_issue_after_a_newer_one(project):
    # An explicit `digest send` at 16:00 UTC gives Tokyo (01:00 on the 27th) the 27th;
    # the --due run at Tokyo's 06:45 must not send it again, nor the 26th.
    config = config_mod.load(project_with(project, [TOKYO, LONDON], "2026-11-20T00:00:00Z") / "digest.yaml")
    plain = send.run(config, now=utc("2026-11-26T16:00:00Z"))
    assert delivered(plain.delivered_to) == {("tokyo", "2026-11-27"), ("london", "2026-11-26")}
    for now in ("2026-11-26T16:01:00Z", "2026-11-26T21:45:00Z"):
        assert send.run(config, now=utc(now), due=True).sent == 0


def test_nobody_due_means_no_fetch(project):
    # A source that fails on every read: a run that owes nobody never touches it.
    (project / "samples" / "papers.jsonl").write_text('{"title": "no abstract"}\n')
    config = config_mod.load(project_with(project, [LONDON], "2026-11-26T08:00:00Z") / "digest.yaml")
    quiet = send.run(config, now=utc("2026-11-26T09:00:00Z"), due=True)
    assert (quiet.not_due, quiet.problems) == (1, [])
    owed = send.run(config, now=utc("2026-11-27T07:00:00Z"), due=True)
    assert owed.sent == 0 and "nothing was sent" in owed.problems[-1]


# --- issue 22: the 12-hour rule reads the ledger; `created:` is honoured on a first run -------


def write_list(project: Path, entries: list[dict]) -> None:
    (project / "subscribers.yaml").write_text(yaml.safe_dump({"subscribers": entries}, sort_keys=False))


def sent_by(project: Path, cli, now: str, seen: set[Path]) -> set[tuple[str, str]]:
    """Run `send --due --now NOW`; the (reader, issue) pairs it wrote to the outbox."""
    result = cli("send", "--due", "--now", now, cwd=project)
    assert result.returncode == 0, result.stderr
    outbox = project / "outbox"
    new = set(outbox.glob("*/*.eml")) - seen if outbox.exists() else set()
    seen |= new
    return delivered([str(p) for p in new])


def test_a_reader_who_moves_from_los_angeles_to_tokyo_never_gets_two_issues_within_12_hours(project, cli):
    mover = {"email": "mover@example.org", "timezone": "America/Los_Angeles", "send_at": "07:00"}
    write_list(project, [mover])
    seen: set[Path] = set()
    assert sent_by(project, cli, "2026-12-08T14:00:00Z", seen) == set()  # the first run sees them
    # 07:05 in Los Angeles: the 8th's issue goes out at 15:05 UTC.
    assert sent_by(project, cli, "2026-12-08T15:05:00Z", seen) == {("mover", "2026-12-08")}
    write_list(project, [{**mover, "timezone": "Asia/Tokyo"}])
    # 07:05 on the 9th in Tokyo is 22:05 UTC on the 8th: 7 hours after the last issue.
    assert sent_by(project, cli, "2026-12-08T22:05:00Z", seen) == set()
    assert sent_by(project, cli, "2026-12-09T03:00:00Z", seen) == set()  # 11 h 55 min after it
    # 12 hours after the last one, within the catch-up window of Tokyo's 07:00: the 9th's issue.
    assert sent_by(project, cli, "2026-12-09T03:06:00Z", seen) == {("mover", "2026-12-09")}
    assert sent_by(project, cli, "2026-12-09T22:00:00Z", seen) == {("mover", "2026-12-10")}


def test_an_entry_created_before_its_slot_is_mailed_on_the_first_run(project, cli):
    london = {"timezone": "Europe/London", "send_at": "07:00"}
    write_list(
        project,
        [
            {"email": "early@example.org", **london, "created": "2026-12-07T10:00:00+00:00"},
            {"email": "unknown@example.org", **london},  # no created: starts at its next slot
            {"email": "late@example.org", **london, "created": "2026-12-08T07:20:00+00:00"},
        ],
    )
    seen: set[Path] = set()
    # The first run on a fresh state, half an hour after London's 07:00 on the 8th.
    assert sent_by(project, cli, "2026-12-08T07:30:00Z", seen) == {("early", "2026-12-08")}
    assert sent_by(project, cli, "2026-12-08T07:31:00Z", seen) == set()
    assert sent_by(project, cli, "2026-12-09T07:00:00Z", seen) == {
        ("early", "2026-12-09"),
        ("unknown", "2026-12-09"),
        ("late", "2026-12-09"),
    }


def test_a_monthly_reader_is_due_on_their_day_or_the_months_last_when_it_is_shorter():
    reader = Subscriber(email="m@example.org", frequency="monthly:31", send_at="07:00", timezone="UTC")
    early_march = datetime(2026, 3, 5, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert last_slot(reader, early_march).issue == "2026-02-28"  # February has no 31st
    assert next_slot(reader, early_march).issue == "2026-03-31"
    assert describe(reader) == "on day 31 of every month (the last day in shorter months) at 07:00, UTC time"
