"""`digest subscribe`, `unsubscribe` and `subscribers`, run as a list owner runs them."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from digest import config as config_mod
from digest.compose import tokens
from digest.config import DEV_SECRET
from digest.jobs import optin
from digest.store import yamllist as subscribers
from digest.store.yamllist import YamlList


def test_subscribe_sends_a_confirmation_and_its_link_activates(project, cli):
    args = ["--topic", "retrieval", "--timezone", "Asia/Tokyo", "--send-at", "6:45"]
    result = cli("subscribe", "kenji@example.org", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "kenji@example.org: pending; confirmation email sent" in result.stdout
    reader = subscribers.find(project / "subscribers.yaml", "kenji@example.org")
    assert (reader.status, reader.topics, reader.timezone, reader.send_at) == (
        "pending", ["retrieval"], "Asia/Tokyo", "06:45"
    )  # fmt: skip
    assert reader.created is not None and reader.confirmed is None

    eml = project / "outbox" / "confirmations" / "kenji@example.org.eml"
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Confirm your subscription to Trending Papers"
    assert message["List-Unsubscribe"] is None  # not list mail: they are not on the list yet
    text = message.get_body(("plain",)).get_content()
    assert "every day at 06:45, Asia/Tokyo time" in text
    token = re.search(r"/confirm\?token=(\S+)", text).group(1)

    config = config_mod.load(project / "digest.yaml")
    now = datetime.now(UTC)
    # Change the signed payload, not the signature's last character: that one carries padding
    # bits, so some substitutions decode to the same bytes and the token stays valid.
    tampered = ("B" if token[0] != "B" else "C") + token[1:]
    assert (
        optin.confirm(config, YamlList(config.list_path), tampered, now=now, secret=DEV_SECRET).problem
        == "invalid"
    )
    late = now + timedelta(hours=config.web.confirm_hours, minutes=1)
    assert (
        optin.confirm(config, YamlList(config.list_path), token, now=late, secret=DEV_SECRET).problem
        == "expired"
    )
    assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "pending"
    confirmed = optin.confirm(config, YamlList(config.list_path), token, now=now, secret=DEV_SECRET)
    assert confirmed.subscriber.status == "active"
    assert "kenji@example.org" in cli("subscribers", "--status", "active", cwd=project).stdout


def test_subscribe_confirmed_adds_an_active_reader_without_email(project, cli):
    result = cli("subscribe", "lab@example.org", "--confirmed", "--frequency", "weekly:mon", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "active; the digest arrives every Monday at 07:00, Europe/London time" in result.stdout
    assert not (project / "outbox").exists()
    listing = cli("subscribers", cwd=project).stdout
    assert re.search(r"lab@example.org\s+active\s+weekly:mon\s+07:00 Europe/London\s+next Mon", listing)
    assert "4 subscribers (4 active)" in listing


def test_a_refused_confirmation_leaves_the_reader_pending_and_says_to_rerun(project, cli, monkeypatch):
    # real mail needs signed links
    monkeypatch.setenv("DIGEST_SECRET", "test secret for real mail 0123456789")
    config = project / "digest.yaml"
    with socket.socket() as closed:  # a port nobody listens on: the relay is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config.write_text(config.read_text().replace("url: file://outbox", f"url: smtp://127.0.0.1:{port}"))
    result = cli("subscribe", "kenji@example.org", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "kenji@example.org stays pending: the confirmation email could not be sent" in result.stderr
    assert "run `digest subscribe kenji@example.org` again" in result.stderr
    assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "pending"

    config.write_text(config.read_text().replace(f"url: smtp://127.0.0.1:{port}", "url: file://outbox"))
    again = cli("subscribe", "kenji@example.org", cwd=project)
    assert again.returncode == 0 and "confirmation email sent" in again.stdout
    assert (project / "outbox" / "confirmations" / "kenji@example.org.eml").exists()


def test_subscribe_refuses_bad_input_and_changes_nothing(project, cli):
    before = (project / "subscribers.yaml").read_bytes()
    topic = cli("subscribe", "x@example.org", "--topic", "astrology", cwd=project)
    assert (
        topic.returncode == 2
        and "unknown topic(s) 'astrology'" in topic.stderr
        and "retrieval" in topic.stderr
    )
    address = cli("subscribe", "not-an-address", cwd=project)
    assert address.returncode == 2 and "email:" in address.stderr
    zone = cli("subscribe", "x@example.org", "--timezone", "Europe/Londres", cwd=project)
    assert zone.returncode == 2 and "unknown time zone 'Europe/Londres'" in zone.stderr
    assert "Traceback" not in topic.stderr + address.stderr + zone.stderr
    assert (project / "subscribers.yaml").read_bytes() == before


def test_subscribe_of_an_active_reader_updates_only_what_is_given(project, cli):
    result = cli("subscribe", "ADA@example.org", "--send-at", "06:00", cwd=project)
    assert "already active; preferences updated" in result.stdout
    ada = subscribers.find(project / "subscribers.yaml", "ada@example.org")
    assert (ada.send_at, ada.topics, ada.max_papers) == ("06:00", ["retrieval"], 10)


def test_unsubscribe_keeps_the_entry_as_a_record(project, cli):
    first = cli("unsubscribe", "grace@example.org", cwd=project)
    assert first.returncode == 0 and "grace@example.org: unsubscribed" in first.stdout
    assert "already unsubscribed" in cli("unsubscribe", "GRACE@example.org", cwd=project).stdout
    unknown = cli("unsubscribe", "nobody@example.org", cwd=project)
    assert unknown.returncode == 2 and "nobody@example.org is not on the list" in unknown.stderr
    listing = cli("subscribers", cwd=project).stdout
    assert "3 subscribers (2 active, 1 unsubscribed)" in listing


@pytest.mark.parametrize(
    "mistake",
    ["  - email: [unclosed\n", "  - email: bob@example.org\n    name: Bob\n    name: Robert\n"],
    ids=["syntax error", "duplicate key"],
)
def test_a_list_that_does_not_parse_is_named_by_line_and_left_as_it_was(project, cli, mistake):
    path = project / "subscribers.yaml"
    path.write_text(path.read_text() + mistake)
    before = path.read_bytes()
    for command in (("unsubscribe", "ada@example.org"), ("subscribe", "kim@example.org", "--confirmed")):
        result = cli(*command, cwd=project)
        assert result.returncode == 2, (command, result.stderr)
        assert re.search(r"subscribers\.yaml:2\d:\d+: YAML syntax error", result.stderr), result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


def test_check_names_the_line_of_an_unknown_topic(project, cli):
    path = project / "subscribers.yaml"
    path.write_text(path.read_text().replace("topics: [retrieval]", "topics: [retreival]"))
    result = cli("subscribers", "--check", cwd=project)
    assert result.returncode == 2
    assert re.search(
        r"subscribers.yaml:10: entry 1 \(ada@example.org\): unknown topic\(s\) 'retreival'", result.stderr
    )


def test_confirmation_tokens_expire_and_keep_to_their_purpose():
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    token = tokens.sign_expiring("s", "confirm", "Ada@Example.org", now + timedelta(hours=48))
    assert tokens.verify_expiring("s", "confirm", token, now).email == "ada@example.org"
    assert tokens.verify_expiring("s", "confirm", token, now + timedelta(hours=48)).problem == "expired"
    assert tokens.verify_expiring("s", "unsubscribe", token, now).problem == "invalid"
    assert tokens.verify_expiring("t", "confirm", token, now).problem == "invalid"
    assert tokens.verify("s", "confirm", token) is None  # an expiring token is not a plain one


def test_a_zone_with_no_daylight_saving_is_taken_with_a_warning_naming_the_place(project, cli):
    result = cli("subscribe", "est@example.org", "--confirmed", "--timezone", "EST", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning: --timezone: timezone 'EST' is UTC-5 all year" in result.stderr
    assert "use America/New_York" in result.stderr
    path = project / "subscribers.yaml"
    path.write_text(path.read_text() + "\n  - email: legacy@example.org\n    timezone: PST8PDT\n")
    check = cli("subscribers", "--check", cwd=project)
    assert check.returncode == 0, check.stderr  # valid names: warnings, not problems
    assert "est@example.org: timezone 'EST' is UTC-5 all year" in check.stderr
    assert "legacy@example.org: timezone 'PST8PDT' is a legacy name; use America/Los_Angeles" in check.stderr
    assert "ada@example.org" not in check.stderr  # Europe/London is a place


@pytest.mark.parametrize(
    ("zone", "advice"),
    [("PST", "use America/Los_Angeles"), ("UTC-5", "Etc/GMT+5 is UTC-5 all year"), ("GMT+9", "Etc/GMT-9")],
)
def test_an_abbreviation_or_offset_is_refused_saying_which_zone_to_use(project, cli, zone, advice):
    result = cli("subscribe", "x@example.org", "--confirmed", "--timezone", zone, cwd=project)
    assert result.returncode == 2 and f"unknown time zone {zone!r}" in result.stderr
    assert advice in result.stderr


def test_the_listing_sizes_its_columns_to_long_addresses_and_zone_names(project, cli):
    (project / "subscribers.yaml").write_text(
        "subscribers:\n"
        "  - email: a.very.long.address.for.a.reader@department.example.org\n"
        "    timezone: America/Argentina/Buenos_Aires\n"
        "  - email: ada@example.org\n    timezone: UTC\n"
        "  - email: kenji@example.org\n    timezone: Asia/Tokyo\n    frequency: weekly:mon\n"
    )
    listing = cli("subscribers", cwd=project)
    assert listing.returncode == 0, listing.stderr
    rows = [line for line in listing.stdout.splitlines() if "@" in line and "subscribers" not in line]
    assert len(rows) == 3
    for column in ("active", "07:00", "next "):
        assert len({row.index(column) for row in rows}) == 1, (column, rows)
