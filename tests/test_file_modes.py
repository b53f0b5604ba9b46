"""Files digest writes for others to read (the archive a web server serves, messages, previews)
get the permissions the umask allows, as `open()` would give them, not a temporary file's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from digest import cli

NOW = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed


def _modes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".html", ".json", ".xml", ".eml", ".txt")
    }


@pytest.mark.parametrize(("mask", "mode"), [(0o022, "0o644"), (0o027, "0o640")])
def test_archive_messages_and_previews_get_the_mode_the_umask_allows(project, monkeypatch, mask, mode):
    monkeypatch.chdir(project)
    before = os.umask(mask)
    try:
        assert cli.main(["preview", "--out", "preview", "--now", NOW]) == 0
        assert cli.main(["send", "--now", NOW]) == 0
    finally:
        os.umask(before)
    written = {**_modes(project / "archive"), **_modes(project / "outbox"), **_modes(project / "preview")}
    assert any(name.endswith(".eml") for name in written) and "feed.xml" in written
    assert {name for name, got in written.items() if got != mode} == set()
