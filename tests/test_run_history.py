"""Never fail silently: every run recorded in the state database, `digest status` reading it
back, and one report to `newsletter.operator` per problem and day, through the same relay the
readers' mail goes through (a real aiosmtpd server with AUTH)."""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.cli import main

from .helpers_http import ReplayServer, Reply
from .helpers_smtp import NOW, SmtpServer, certificate, server_tls, write_project

__all__ = ["certificate"]  # a fixture

PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"
OPERATOR = "ops@lab.example.org"


@pytest.fixture(autouse=True)
def _no_password_yet(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "a-test-secret-for-the-history-0123456789")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def digest(root: Path, *args: str) -> int:
    return main(["--config", str(root / "digest.yaml"), *args])


def operator_mail(sink) -> list:
    return [message_from_bytes(r.data, policy=policy.default) for r in sink.received if r.rcpt == OPERATOR]


def test_a_refused_login_is_recorded_reported_once_and_the_next_run_sends_everything(
    tmp_path, certificate, monkeypatch, capsys
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-123")
    with SmtpServer(starttls=server_tls(*certificate), users={"digest": "right-password-456"}) as sink:
        readers = write_project(
            tmp_path,
            url=f"smtp://digest@localhost:{sink.port}",
            readers=4,
            newsletter=f"  operator: {OPERATOR}",
        )
        assert digest(tmp_path, "send", "--now", NOW) == 1
        assert digest(tmp_path, "send", "--now", "2026-11-26T07:30:00Z") == 1  # cron, half an hour later
        err = capsys.readouterr().err
        assert sink.total() == 0
        assert "could not send the report to the operator" in err and "it goes out later" in err
        assert "wrong-password-123" not in err

        assert digest(tmp_path, "status", "--json", "--now", "2026-11-26T08:00:00Z") == 0
        status = json.loads(capsys.readouterr().out)
        failed = status["runs"][0]
        assert failed["kind"] == "send" and failed["exit"] == 1 and failed["issues"] == ["2026-11-26"]
        assert failed["counts"]["sent"] == 0
        assert any("login as 'digest' failed" in e for e in failed["errors"])
        waiting = status["operator_reports"]
        assert {r["problem"] for r in waiting} == {"send failed", "nothing sent"}  # once each, not per run
        assert all(r["sent"] is None and "login" in r["waiting"] for r in waiting)
        assert digest(tmp_path, "status", "--now", "2026-11-26T08:00:00Z") == 0
        text = capsys.readouterr().out
        assert "login as 'digest' failed" in text and "NOT SENT YET" in text

        monkeypatch.setenv(PASSWORD_ENV, "right-password-456")  # the relay is fixed
        assert digest(tmp_path, "send", "--now", "2026-11-26T09:00:00Z") == 0
        assert digest(tmp_path, "send", "--now", "2026-11-26T09:30:00Z") == 0
        delivered = sorted(r.rcpt for r in sink.received if r.rcpt != OPERATOR)
        assert delivered == sorted(readers)
        reports = operator_mail(sink)
        assert len(reports) == 1, [m["Subject"] for m in reports]
        body = reports[0].get_content()
        subject = reports[0]["Subject"]
        assert (
            subject.startswith("[Test Papers] the send run failed: the server refuses us")
            and "(+1 more)" in subject
        )
        assert "login as 'digest' failed" in body
        assert "4 readers were owed it and none was sent it" in body
        assert reports[0]["Auto-Submitted"] == "auto-generated"
        assert "right-password-456" not in body

    capsys.readouterr()
    assert digest(tmp_path, "status", "--json", "--now", "2026-11-26T10:00:00Z") == 0
    status = json.loads(capsys.readouterr().out)
    assert [r["exit"] for r in status["runs"]] == [0, 0, 1, 1]
    assert status["runs"][1]["counts"]["sent"] == 4
    assert all(r["sent"] for r in status["operator_reports"])


def test_no_operator_report_for_a_clean_run_and_none_to_readers(tmp_path, capsys):
    with SmtpServer() as sink:
        write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3, newsletter=f"  operator: {OPERATOR}"
        )
        assert digest(tmp_path, "send", "--now", NOW) == 0
    assert sink.total() == 3 and operator_mail(sink) == []


def test_a_dry_run_is_not_recorded_and_a_real_one_is(tmp_path, capsys):
    write_project(tmp_path, url="file://outbox", readers=2)
    assert digest(tmp_path, "send", "--dry-run", "--now", NOW) == 0
    capsys.readouterr()
    assert digest(tmp_path, "status", "--json", "--now", NOW) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []
    assert digest(tmp_path, "send", "--now", NOW) == 0
    capsys.readouterr()
    assert digest(tmp_path, "status", "--json", "--now", NOW) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["started"] == "2026-11-26T07:00:00+00:00" and run["counts"] == {"sent": 2}
    assert run["exit"] == 0 and run["errors"] == [] and run["ended"] >= run["started"]


def test_status_shows_the_next_slots_with_their_readers(tmp_path, capsys):
    write_project(tmp_path, url="file://outbox", readers=3)
    assert digest(tmp_path, "status", "--json", "--now", NOW) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["runs"] == []
    assert status["next_slots"] == [{"at": "2026-11-27T07:00:00+00:00", "readers": 3}]
    assert status["readers"] == {"active": 3}


def _with_sources(root: Path, sources: str) -> None:
    config = root / "digest.yaml"
    text = config.read_text().replace("sources:\n  - kind: file\n    path: papers.jsonl\n", sources)
    config.write_text(text + "fetch:\n  retries: 0\n")


def test_a_weekend_with_no_papers_reports_nothing(tmp_path, capsys):
    with ReplayServer() as hf, SmtpServer() as sink:
        hf.routes["/api/daily_papers"] = Reply(b"[]")  # what Hugging Face answers on a Saturday
        write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3, newsletter=f"  operator: {OPERATOR}"
        )
        _with_sources(tmp_path, f"sources:\n  - kind: hf_daily\n    url: {hf.url}\n")
        for saturday_and_sunday in ("2026-11-28T07:00:00Z", "2026-11-29T07:00:00Z"):
            assert digest(tmp_path, "send", "--now", saturday_and_sunday) == 0
        assert len(hf.hits("/api/daily_papers")) == 2
    assert sink.total() == 0
    capsys.readouterr()
    assert digest(tmp_path, "status", "--json", "--now", "2026-11-29T08:00:00Z") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["operator_reports"] == [] and status["failed_sources"] == []
    assert [r["issues"] for r in status["runs"]] == [["2026-11-29"], ["2026-11-28"]]


def test_a_source_failing_three_days_running_is_reported_on_the_third(tmp_path, capsys):
    with ReplayServer() as feed, SmtpServer() as sink:
        feed.routes["/feed.xml"] = Reply(b"upstream is down", 503, "text/plain")
        write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=2, newsletter=f"  operator: {OPERATOR}"
        )
        _with_sources(
            tmp_path,
            "sources:\n  - kind: file\n    path: papers.jsonl\n"
            f"  - kind: feed\n    name: lab-feed\n    url: {feed.url}/feed.xml\n",
        )
        reports_by_day = []
        for day in ("2026-11-24", "2026-11-25", "2026-11-26"):
            assert digest(tmp_path, "send", "--now", f"{day}T07:00:00Z") == 1  # the source's error: exit 1
            reports_by_day.append(len(operator_mail(sink)))
        assert reports_by_day == [0, 0, 1]
        (report,) = operator_mail(sink)
        assert "source lab-feed has failed 3 issue days running" in report.get_content()
        assert "503" in report.get_content()
        assert digest(tmp_path, "send", "--now", "2026-11-26T09:00:00Z") == 1  # again that day: no second
        assert len(operator_mail(sink)) == 1
        assert len({r.rcpt for r in sink.received}) == 3  # two readers were mailed each day, and the operator
    capsys.readouterr()
    assert digest(tmp_path, "status", "--now", "2026-11-26T10:00:00Z") == 0
    assert "lab-feed: failed 3 day(s), 3 in a row" in capsys.readouterr().out


def _runs(root: Path, capsys, now: str = NOW) -> list[dict]:
    capsys.readouterr()
    assert digest(root, "status", "--json", "--now", now) == 0
    return json.loads(capsys.readouterr().out)["runs"]


def test_a_schedule_slot_and_an_inbox_run_are_recorded_with_their_kind(tmp_path, capsys):
    from datetime import datetime

    from digest import config as config_mod
    from digest.jobs.schedule import Daemon
    from digest.store.yamllist import YamlList

    write_project(tmp_path, url="file://outbox", readers=2)
    with (tmp_path / "digest.yaml").open("a") as handle:
        handle.write("inbox:\n  url: maildir://mail\n  address: bounces@example.org\n")
    (tmp_path / "mail" / "new").mkdir(parents=True)
    (tmp_path / "mail" / "cur").mkdir()
    (tmp_path / "mail" / "tmp").mkdir()
    config = config_mod.load(tmp_path / "digest.yaml")
    slot = datetime.fromisoformat(NOW)
    Daemon(config, YamlList(config.list_path), start=slot).run_slot(slot)
    # the inbox run states its instant too: at the wall clock's, a year on, keeping the history
    # for 90 days (monitoring.keep_days) would forget the slot's run before it is read back
    assert digest(tmp_path, "inbox", "--now", "2026-11-26T08:00:00Z") == 0
    kinds = {run["kind"]: run for run in _runs(tmp_path, capsys, "2026-12-31T00:00:00Z")}
    assert set(kinds) == {"schedule", "inbox"}
    assert kinds["schedule"]["started"] == "2026-11-26T07:00:00+00:00" and kinds["schedule"]["exit"] == 0
    assert kinds["inbox"]["counts"] == {"messages": 0} and kinds["inbox"]["exit"] == 0


def test_a_run_that_bounces_more_than_the_share_is_reported_with_its_counts(tmp_path):
    with SmtpServer() as sink:
        readers = write_project(
            tmp_path,
            url=f"smtp://127.0.0.1:{sink.port}",
            readers=5,
            newsletter=f"  operator: {OPERATOR}",
            delivery="  error_threshold: 50",
        )
        for reader in readers[:2]:
            sink.plan(reader, "rcpt 550 5.1.1 User unknown")
        assert digest(tmp_path, "send", "--now", NOW) == 1
        (report,) = operator_mail(sink)
    assert (
        "2 of 5 messages bounced or failed (40%, more than monitoring.fail_share 10%)" in report.get_content()
    )


def test_a_secret_in_an_error_is_kept_out_of_the_history(monkeypatch):
    from digest.jobs.history import redact

    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "hunter2-but-longer")
    said = redact("login refused for hunter2-but-longer at postgresql://u:pw-in-url@db/x")
    assert "hunter2" not in said and "login refused for [redacted] at" in said
    assert "pw-in-url" not in said and "postgresql://u:[redacted]@db/x" in said


def test_on_postgresql_db_upgrade_adds_the_history_and_runs_are_recorded(tmp_path, postgres_url, capsys):
    from digest.store import Location, open_database
    from digest.store.schema import MIGRATIONS

    history = next(m.version for m in MIGRATIONS if m.says.startswith("the run history"))
    write_project(tmp_path, url="file://outbox", readers=2, state=postgres_url)
    location = Location("postgresql", url=postgres_url)
    with open_database(location, check=False) as db:  # a database made by the previous version
        db.upgrade()
        with db.transaction() as execute:
            execute("DROP TABLE runs")
            execute("DROP TABLE source_days")
            execute("DROP TABLE operator_reports")
            for later in ("paper_signals", "empty_days", "reader_feeds"):  # a later migration's (issue 25)
                execute(f"DROP TABLE IF EXISTS {later}")
            execute("DELETE FROM schema_version WHERE version >= ?", (history,))
    assert digest(tmp_path, "doctor", "--now", NOW, "--nameserver", "127.0.0.1:9") == 1
    said = capsys.readouterr().out
    assert re.search(r"FAIL  state .*schema version \d+ of \d+ -> run `digest db upgrade`", said), said
    assert digest(tmp_path, "db", "upgrade") == 0
    assert f"applied {history}: the run history" in capsys.readouterr().out
    assert digest(tmp_path, "send", "--now", NOW) == 0
    (run,) = _runs(tmp_path, capsys)
    assert run["kind"] == "send" and run["counts"] == {"sent": 2} and run["exit"] == 0


def test_the_weekly_summary_goes_out_once_on_its_day_with_the_weeks_figures(tmp_path):
    with SmtpServer() as sink:
        write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3, newsletter=f"  operator: {OPERATOR}"
        )
        with (tmp_path / "digest.yaml").open("a") as handle:
            handle.write("monitoring:\n  weekly_summary: fri\n")
        assert digest(tmp_path, "send", "--now", NOW) == 0  # a Thursday: no summary
        assert operator_mail(sink) == []
        for friday in ("2026-11-27T07:00:00Z", "2026-11-27T08:00:00Z"):
            assert digest(tmp_path, "send", "--now", friday) == 0
        (summary,) = operator_mail(sink)
    assert "the week to 2026-11-27: 6 sent, 0 addresses bounced, 0 complaints" in summary.get_content()


def test_a_weekday_when_every_source_fails_is_reported_at_once_as_nothing_sent(tmp_path):
    with ReplayServer() as feed, SmtpServer() as sink:
        feed.routes["/feed.xml"] = Reply(b"upstream is down", 503, "text/plain")
        write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=2, newsletter=f"  operator: {OPERATOR}"
        )
        _with_sources(
            tmp_path, f"sources:\n  - kind: feed\n    name: lab-feed\n    url: {feed.url}/feed.xml\n"
        )
        assert digest(tmp_path, "send", "--now", NOW) == 1
        (report,) = operator_mail(sink)
    assert "issue 2026-11-26: no source had papers, so readers owed it got nothing" in report.get_content()
    assert sink.total() == 1  # the operator's report, nothing to readers
