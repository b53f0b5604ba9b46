"""The main job end to end, through the CLI as a user runs it, on the shipped example project."""

import json
import sqlite3
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

GMAIL_CLIP = 102 * 1024
DAY1 = "2026-11-26T07:00:00+00:00"
DAY2 = "2026-11-27T07:00:00+00:00"


def _messages(outbox: Path):
    return {p.name: message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.glob("*/*.eml")}


def test_send_delivers_one_parseable_message_per_active_reader(project, cli):
    result = cli("send", "--now", DAY1, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "sent 3" in result.stdout
    messages = _messages(project / "outbox")
    assert sorted(messages) == ["ada@example.org.eml", "alan@example.org.eml", "grace@example.org.eml"]
    for name, msg in messages.items():
        assert msg.get_content_type() == "multipart/alternative", name
        text, html = (part.get_content() for part in msg.iter_parts())
        assert len(html.encode()) < GMAIL_CLIP, (name, len(html))
        assert "Unsubscribe" in html and "Unsubscribe:" in text
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
            assert msg[header], (name, header)
    # Ada asked for at most 10 papers; Alan has no preferences and gets the default 20
    assert messages["ada@example.org.eml"]["Subject"].endswith(" and 9 more trending papers")
    assert messages["alan@example.org.eml"]["Subject"].endswith(" and 19 more trending papers")


def test_rerun_of_a_complete_issue_sends_nothing(project, cli):
    assert cli("send", "--now", DAY1, cwd=project).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (project / "outbox").glob("*/*.eml")}
    again = cli("send", "--now", DAY1, cwd=project)
    assert again.returncode == 0
    assert "sent 0, already sent 3" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (project / "outbox").glob("*/*.eml")} == before


def test_next_issue_never_repeats_a_paper_to_the_same_reader(project, cli):
    assert cli("send", "--now", DAY1, cwd=project).returncode == 0
    assert cli("send", "--now", DAY2, cwd=project).returncode == 0
    db = sqlite3.connect(project / ".digest" / "state.db")
    rows = db.execute("SELECT email, paper_id, COUNT(*) FROM sent_papers GROUP BY email, paper_id").fetchall()
    assert rows and all(count == 1 for _, _, count in rows)
    per_issue = dict(
        db.execute("SELECT issue, COUNT(*) FROM sent_papers WHERE email = 'alan@example.org' GROUP BY issue")
    )
    # Day two has only the papers day one did not carry; the theme cap and min score may
    # leave it shorter than day one.
    assert per_issue["2026-11-26"] == 20 and 0 < per_issue["2026-11-27"] <= 20


def test_dry_run_builds_everything_and_records_nothing(project, cli):
    result = cli("send", "--dry-run", "--now", DAY1, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("papers to") == 3
    assert "dry run: would send 3" in result.stdout
    assert not (project / "outbox").exists() and not (project / ".digest").exists()
    assert cli("send", "--now", DAY1, cwd=project).stdout.count("sent 3") == 1


def test_send_to_one_reader_only(project, cli):
    result = cli("send", "--to", "GRACE@example.org", "--now", DAY1, cwd=project)
    assert result.returncode == 0, result.stderr
    assert list(_messages(project / "outbox")) == ["grace@example.org.eml"]
    unknown = cli("send", "--to", "nobody@example.org", cwd=project)
    assert unknown.returncode == 2 and "no active subscriber nobody@example.org" in unknown.stderr


def test_a_failed_only_source_sends_nothing_and_exits_1(project, cli):
    (project / "samples" / "papers.jsonl").write_text('{"title": "no abstract"}\n')
    result = cli("send", "--now", DAY1, cwd=project)
    assert result.returncode == 1
    assert "papers.jsonl:1: field 'abstract' is missing or empty" in result.stderr
    assert "nothing was sent" in result.stderr
    assert not (project / "outbox").exists()


def test_preview_writes_html_text_and_eml_for_one_reader(project, cli):
    result = cli("preview", "--to", "grace@example.org", "--out", "pv", "--now", DAY1, cwd=project)
    assert result.returncode == 0, result.stderr
    for name in ("digest.html", "digest.txt", "digest.eml"):
        assert (project / "pv" / name).stat().st_size > 1000, name
    html = (project / "pv" / "digest.html").read_text()
    assert "as grace@example.org." in html and "Today's top paper" in html  # Grace's own digest
    assert not (project / "outbox").exists()


def test_an_out_folder_that_cannot_be_written_is_a_usage_error(project, cli):
    (project / "pv").write_text("a file where the folder should be\n")
    result = cli("preview", "--out", "pv", "--now", DAY1, cwd=project)
    assert result.returncode == 2 and "--out pv: cannot write" in result.stderr
    assert "Traceback" not in result.stderr


def test_preview_to_something_that_is_not_an_address_is_a_usage_error(project, cli):
    result = cli("preview", "--to", "ada.example.org", "--out", "pv", "--now", DAY1, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "--to 'ada.example.org': not an email address" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "pv").exists()


def test_a_reader_that_stops_reading_early_gets_no_traceback(project):
    # `digest themes --json | head -1`: the pipe closes before digest has written it all
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "themes", "--papers", "samples/papers.jsonl", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 1 and errors == b""


def test_themes_json_has_the_contract_shape_and_covers_every_paper(project, cli):
    result = cli("themes", "--papers", "samples/papers.jsonl", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"themes"}
    ids = [pid for theme in data["themes"] for pid in theme["papers"]]
    assert len(ids) == len(set(ids)) == 49
    for theme in data["themes"]:
        assert set(theme) == {"label", "papers"}
        assert theme["label"].strip() and any(c.isalpha() for c in theme["label"])
        assert theme["papers"]


def test_help_lists_only_commands_that_work(project, cli):
    result = cli("--help", cwd=project)
    assert result.returncode == 0
    for command in ("preview", "send", "themes", "subscribers"):
        assert command in result.stdout
    bad = cli("send", "--bogus", cwd=project)
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr


def test_themes_on_a_file_without_papers_says_so(project, cli):
    (project / "empty.jsonl").write_text("\n")
    result = cli("themes", "--papers", "empty.jsonl", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "empty.jsonl: no papers, so no themes\n"
    as_json = cli("themes", "--papers", "empty.jsonl", "--json", cwd=project)
    assert json.loads(as_json.stdout) == {"themes": []}
