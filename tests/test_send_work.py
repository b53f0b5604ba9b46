"""What a send does per reader, counted rather than timed: the list's addresses are checked
once each although the list is read twice (checked whole, then reader by reader)."""

from __future__ import annotations

from datetime import datetime

import email_validator

from digest import config as config_mod
from digest.jobs import send

from .helpers_smtp import NOW, write_project


def test_a_send_checks_each_address_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")
    emails = write_project(tmp_path, url="console://", readers=40)
    checked: list[str] = []
    real = email_validator.validate_email

    def counted(address, *args, **kwargs):
        checked.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(email_validator, "validate_email", counted)
    report = send.run(
        config_mod.load(tmp_path / "digest.yaml"),
        now=datetime.fromisoformat(NOW),
        dry_run=True,
        log=lambda _: None,
    )
    assert report.dry_run == len(emails)
    assert all(checked.count(email) <= 1 for email in emails), sorted(checked)[:6]


def test_readers_first_seen_are_recorded_as_the_run_goes_and_a_dry_run_keeps_none(tmp_path):
    from digest.store import Location, open_database

    now = datetime.fromisoformat(NOW)
    with open_database(Location("sqlite", path=tmp_path / "state.db")) as ledger:
        seen = send.FirstSeen(ledger)
        emails = [f"r{i}@example.org" for i in range(send.SEEN_BATCH + 5)]
        assert all(seen.at(email, now) == now for email in emails)
        assert len(ledger.seen_readers()) == send.SEEN_BATCH  # before the run's end
        seen.record(now)
        assert set(ledger.seen_readers()) == set(emails)

        dry = send.FirstSeen(ledger, readonly=True)
        assert dry.at("new@example.org", now) == now
        assert not dry.new and "new@example.org" not in dry.first
