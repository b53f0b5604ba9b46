"""Days with no papers, said plainly: on the recorded Hugging Face days (Friday 7 and Monday
10 August 2026, the weekend between listing nothing) replayed on loopback, a daily reader gets
nothing at the weekend, Monday's issue opens with one line saying why, and the web archive
shows each empty day with its line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from digest import config as config_mod
from digest.issue.quiet_days import opening_line
from digest.jobs import send

from .helpers_http import ReplayServer, hf_daily_papers
from .test_reader_rhythm import NEWSLETTER

LINE = "No issue from Saturday 8 to Sunday 9 August: no papers are listed at weekends."


def test_after_an_empty_weekend_the_next_issue_and_the_archive_say_why(tmp_path, shared_fixtures):
    recorded = {
        day: shared_fixtures / "hf_daily_papers" / f"{day}.json" for day in ("2026-08-07", "2026-08-10")
    }
    with ReplayServer() as server:
        server.routes["/api/daily_papers"] = hf_daily_papers(recorded)
        (tmp_path / "digest.yaml").write_text(NEWSLETTER.format(url=server.url) + "archive: archive\n")
        (tmp_path / "subscribers.yaml").write_text("subscribers:\n  - email: ada@example.org\n")
        config = config_mod.load(tmp_path / "digest.yaml")
        sent = {}
        for now in (
            "2026-08-06T12:00",
            "2026-08-07T07:30",
            "2026-08-08T07:30",
            "2026-08-09T07:30",
            "2026-08-10T07:30",
        ):
            report = send.run(
                config, now=datetime.fromisoformat(now).replace(tzinfo=UTC), due=True, log=lambda _: None
            )
            assert (report.failed, report.problems) == (0, []), now
            sent[now[:10]] = report.sent
    assert sent == {"2026-08-06": 0, "2026-08-07": 1, "2026-08-08": 0, "2026-08-09": 0, "2026-08-10": 1}

    def opening(day: str) -> tuple[str, str]:
        raw = (tmp_path / "outbox" / day / "ada@example.org.eml").read_bytes()
        message = message_from_bytes(raw, policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        return text.split("TODAY'S TOP PAPER", 1)[0], html

    monday_text, monday_html = opening("2026-08-10")
    assert LINE in " ".join(monday_text.split()) and LINE in monday_html
    friday_text, _ = opening("2026-08-07")  # Thursday had papers: nothing to say
    assert "No issue" not in friday_text

    index = (tmp_path / "archive" / "index.html").read_text()
    assert (
        "Saturday 8 August 2026" in index
        and "No issue on Saturday 8 August: no papers are listed at weekends." in index
    )
    assert (
        "Sunday 9 August 2026" in index
        and "No issue on Sunday 9 August: no papers are listed at weekends." in index
    )
    assert LINE in (tmp_path / "archive" / "2026-08-10.html").read_text()  # Monday's page opens with it too
    assert b"Saturday 8" not in (tmp_path / "archive" / "feed.xml").read_bytes()  # no feed entry for no issue


def test_the_line_names_a_single_empty_weekday_and_a_run_of_them():
    assert (
        opening_line([date(2026, 12, 25)])
        == "No issue on Friday 25 December: the sources listed no papers that day."
    )
    assert opening_line([date(2026, 12, 31), date(2027, 1, 1)]) == (
        "No issue from Thursday 31 December to Friday 1 January: the sources listed no papers on those days."
    )
    assert opening_line([]) == ""
