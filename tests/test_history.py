"""History across consecutive issues, on a real SQLite state and real files: Hugging Face lists
papers again on later days, sometimes as a new arXiv version; a reader never gets one twice."""

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from digest import config as config_mod
from digest.jobs import send

READER = "reader@example.org"


def day(n: int) -> datetime:
    return datetime(2026, 8, 11 + n, 7, 0, tzinfo=UTC)


def project(tmp_path: Path, history_days: int | None = None) -> Path:
    ranking = "ranking:\n  min_score: 0\n" + (
        f"  history_days: {history_days}\n" if history_days is not None else ""
    )
    (tmp_path / "digest.yaml").write_text(
        "sources:\n  - kind: file\n    path: today.json\n" + ranking + "delivery:\n  url: file://outbox\n"
    )
    (tmp_path / "subscribers.yaml").write_text(f"subscribers:\n  - email: {READER}\n")
    return tmp_path


def list_papers(root: Path, *ids: str) -> None:
    """Today's listing as a saved Hugging Face daily_papers response."""
    entries = [
        {
            "paper": {
                "id": pid,
                "title": f"Paper {pid.split('v')[0]} on sparse retrieval",
                "summary": "An abstract.",
                "authors": [{"name": "Jane Doe"}],
                "upvotes": 10,
            },
            "numComments": 1,
        }
        for pid in ids
    ]
    (root / "today.json").write_text(json.dumps(entries))


def sent(root: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(root / ".digest" / "state.db")
    rows = db.execute(
        "SELECT issue, paper_id FROM sent_papers WHERE email = ? ORDER BY issue, paper_id", (READER,)
    )
    out: dict[str, list[str]] = {}
    for issue, pid in rows:
        out.setdefault(issue, []).append(pid)
    return out


def run(root: Path, n: int) -> send.SendReport:
    report = send.run(config_mod.load(root / "digest.yaml"), now=day(n), log=lambda _: None)
    assert not report.problems, report.problems
    return report


def test_a_paper_listed_again_on_later_days_even_as_a_new_version_is_not_sent_again(tmp_path):
    root = project(tmp_path)
    list_papers(root, "2608.12313", "2608.20001")
    assert run(root, 1).sent == 1
    list_papers(root, "2608.12313v2", "2608.30001")
    assert run(root, 2).sent == 1
    list_papers(root, "2608.12313v3", "2608.20001", "2608.40001")
    assert run(root, 3).sent == 1
    assert sent(root) == {
        "2026-08-12": ["2608.12313", "2608.20001"],
        "2026-08-13": ["2608.30001"],
        "2026-08-14": ["2608.40001"],
    }
    day2 = (root / "outbox" / "2026-08-13" / f"{READER}.eml").read_text()
    assert "2608.30001" in day2 and "2608.12313" not in day2


def test_a_day_with_nothing_new_sends_nothing(tmp_path):
    root = project(tmp_path)
    list_papers(root, "2608.12313")
    assert run(root, 1).sent == 1
    list_papers(root, "2608.12313v2")
    report = run(root, 2)
    assert (report.sent, report.empty) == (0, 1)


def test_history_reaches_back_only_as_far_as_the_lookback_window(tmp_path):
    root = project(tmp_path, history_days=2)
    list_papers(root, "2608.12313", "2608.20001")
    run(root, 1)
    list_papers(root, "2608.12313v2", "2608.30001")
    run(root, 3)  # two days later: still inside the window
    list_papers(root, "2608.12313v3", "2608.30001")
    run(root, 4)  # three days after the first send: that one may come again, the other not
    assert sent(root) == {
        "2026-08-12": ["2608.20001"],
        "2026-08-14": ["2608.30001"],
        "2026-08-15": ["2608.12313"],  # the row remembers the last issue that carried the paper
    }


def test_resending_the_same_issue_keeps_its_own_papers(tmp_path):
    """A crashed run resumes: the reader's row for today is not 'sent', so today's papers are
    not counted as history against today's issue."""
    root = project(tmp_path)
    list_papers(root, "2608.12313")
    cfg = config_mod.load(root / "digest.yaml")
    from digest.compose.build import Builder, issue_for
    from digest.store import open_database

    issue = issue_for(cfg, [], day(1))
    with open_database(cfg.store) as state:
        state.claim(issue.id, READER, "<m@x>")
        state.mark_sent(issue.id, READER, ["2608.12313"])
        builder = Builder(cfg, issue, day(1), "secret")
        assert builder.history(state, READER) == frozenset()
        later = Builder(cfg, issue_for(cfg, [], day(2)), day(2), "secret")
        assert later.history(state, READER) == frozenset({"2608.12313"})


def test_a_state_file_that_is_not_a_database_is_named_and_left_alone(project, cli):
    state = project / ".digest" / "state.db"
    state.parent.mkdir()
    state.write_text("notes, not a database\n")
    for command in (("send",), ("send", "--dry-run"), ("preview", "--out", "pv"), ("bounces",)):
        result = cli(*command, cwd=project)
        assert result.returncode == 2, (command, result.stderr)
        assert "state.db: cannot use it as the state database" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
    assert state.read_text() == "notes, not a database\n"
    assert not (project / "outbox").exists()
