"""Changing subscribers.yaml: locked, atomic, and kind to the person who wrote the file."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.readers.subscribers import Confirm, Import, Unsubscribe
from digest.store import yamllist as subscribers
from digest.store.yamllist import YamlList

from .conftest import EXAMPLE

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
HAND_WRITTEN = (EXAMPLE / "subscribers.yaml").read_text()


@pytest.fixture
def listed(tmp_path: Path) -> Path:
    path = tmp_path / "subscribers.yaml"
    path.write_text(HAND_WRITTEN)
    return path


def test_an_edit_changes_only_the_lines_it_must(listed):
    YamlList(listed).apply("ADA@example.org", Unsubscribe(), now=NOW)
    prefs = {"topics": ["retrieval"], "send_at": "10:30"}
    YamlList(listed).apply("new@example.org", Import({**prefs, "created": NOW}), now=NOW)
    diff = list(difflib.ndiff(HAND_WRITTEN.splitlines(), listed.read_text().splitlines()))
    assert [line for line in diff if line.startswith("- ")] == []  # comments, quotes, order: all kept
    assert [line[2:] for line in diff if line.startswith("+ ")] == [
        "    status: unsubscribed",
        '    unsubscribed: "2026-11-26T08:00:00+00:00"',  # when: older confirmation links stop working
        "",  # entries in this file are separated by blank lines; so is the new one
        "  - email: new@example.org",
        '    send_at: "10:30"',  # quoted: YAML 1.1 would read 10:30 as the number 630
        "    topics: [retrieval]",
        '    created: "2026-11-26T08:00:00+00:00"',
    ]
    readers = {r.email: r for r in subscribers.load(listed)}
    assert readers["ada@example.org"].status == "unsubscribed"
    assert readers["new@example.org"].send_at == "10:30"


def test_an_edit_that_would_make_the_file_invalid_writes_nothing(listed):
    before = listed.read_bytes()
    with pytest.raises(DigestError, match="timezone: unknown time zone 'Mars/Base'"):
        YamlList(listed).apply("x@example.org", Import({"timezone": "Mars/Base"}), now=NOW)
    with pytest.raises(DigestError, match="grace@example.org is not on the list|not on the list"):
        YamlList(listed).apply("nobody@example.org", Confirm(NOW), now=NOW)
    assert listed.read_bytes() == before
    assert not list(listed.parent.glob(".subscribers.yaml.*.tmp"))


def test_addresses_are_unique_case_insensitively(listed):
    change = YamlList(listed).apply("Grace@EXAMPLE.org", Import({"send_at": "09:00"}), now=NOW)
    assert change.before is not None and change.after.send_at == "09:00"
    assert [r.email.lower() for r in subscribers.load(listed)].count("grace@example.org") == 1


def test_a_typo_elsewhere_in_the_file_does_not_block_an_unsubscribe(listed):
    listed.write_text(HAND_WRITTEN.replace("timezone: Asia/Tokyo", "timezone: Asia/Tokio"))
    YamlList(listed).apply("ada@example.org", Unsubscribe(), now=NOW)
    checked = subscribers.check(listed)
    assert [r.status for r in checked.subscribers if r.email == "ada@example.org"] == ["unsubscribed"]
    assert len(checked.problems) == 1 and "Asia/Tokio" in checked.problems[0]


def test_the_file_keeps_its_permissions(listed):
    os.chmod(listed, 0o640)
    YamlList(listed).apply("ada@example.org", Unsubscribe(), now=NOW)
    assert oct(listed.stat().st_mode & 0o777) == "0o640"


WRITER = """
import sys, time
from pathlib import Path
from datetime import UTC, datetime
from digest.store import yamllist as subscribers
from digest.store.yamllist import YamlList
from digest.readers.subscribers import Confirm, Import, SignUp, Unsubscribe
path, worker, count, gate = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
(gate.parent / f"ready-{worker}").touch()
while not gate.exists():  # every process starts writing at the same moment
    time.sleep(0.001)
for i in range(count):
    YamlList(path).apply(f"w{worker}-{i}@example.org", SignUp(), now=datetime.now(UTC))
"""


def test_fifty_subscribes_from_several_processes_at_once_leave_fifty_entries(listed, tmp_path):
    processes, each = 5, 10
    # A gate, not a moment on the wall clock: the writers start together once every
    # interpreter is up, however slow the machine is.
    gates = tmp_path / "gates"
    gates.mkdir()
    gate = gates / "go"
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(listed), str(w), str(each), str(gate)])
        for w in range(processes)
    ]
    deadline = time.monotonic() + 120
    while len(list(gates.glob("ready-*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()
    began = time.perf_counter()
    assert [w.wait(timeout=120) for w in workers] == [0] * processes
    elapsed = time.perf_counter() - began
    checked = subscribers.check(listed)
    assert checked.problems == []
    new = [r for r in checked.subscribers if r.email.startswith("w")]
    assert len(new) == processes * each
    assert len(checked.subscribers) == 3 + processes * each
    assert HAND_WRITTEN.splitlines()[0] in listed.read_text()  # the header comment survived 50 rewrites
    print(f"\n{processes} processes x {each} subscribes: {len(new)} new entries, valid file, {elapsed:.2f}s")
