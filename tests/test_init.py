"""`digest init`: a new folder that works at once (preview, send, the list check), with the
user's own copies of the templates; nothing asked off a terminal; nothing ever overwritten."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT

NOON = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed; one date for all

TEMPLATES = sorted(
    p.relative_to(ROOT / "templates")
    for p in (ROOT / "templates").rglob("*")
    if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts
)


def init(cli, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # run_cli gives the child no terminal (stdin is inherited from pytest, which is not a tty
    # under capture), the way a script or CI runs it.
    result = cli("init", *args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_init_in_an_empty_folder_writes_a_config_that_previews_and_sends_offline(tmp_path, cli):
    result = init(cli, "news", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "news"
    for name in ("digest.yaml", "subscribers.yaml", "samples/papers.jsonl"):
        assert (folder / name).is_file(), name
    assert (
        sorted(p.relative_to(folder / "templates") for p in (folder / "templates").rglob("*") if p.is_file())
        == TEMPLATES
    )
    assert "wrote digest.yaml, subscribers.yaml, samples/papers.jsonl, templates/" in result.stdout
    assert "cd news && digest preview" in result.stdout

    preview = cli("preview", "--out", "preview", "--now", NOON, cwd=folder)
    assert preview.returncode == 0, preview.stderr
    assert "preview for you@example.org" in preview.stdout
    titles = [json.loads(line)["title"] for line in (folder / "samples/papers.jsonl").open()]
    text = " ".join((folder / "preview/digest.txt").read_text().split())  # titles wrap
    # the sample's papers, 20 per reader; a TeX tie ("Byte-~and") shows as a space
    assert sum(" ".join(t.replace("~", " ").split()) in text for t in titles) == 20

    send = cli("send", "--now", NOON, cwd=folder)
    assert send.returncode == 0, send.stderr
    assert list((folder / "outbox").rglob("you@example.org*.eml"))

    check = cli("subscribers", "--check", cwd=folder)
    assert check.returncode == 0, check.stderr


def test_the_written_config_explains_its_settings_in_comments(tmp_path, cli):
    assert init(cli, cwd=tmp_path).returncode == 0
    text = (tmp_path / "digest.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["templates"] == "templates" and config["sources"] == [
        {"kind": "file", "path": "samples/papers.jsonl"}
    ]
    # Every top-level setting has a comment on or just above its line.
    lines = text.splitlines()
    for key in config:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        nearby = lines[max(0, at - 3) : at + 4]
        assert any("#" in line for line in nearby), f"{key}: no comment near line {at + 1}"
    for secret in ("DIGEST_SECRET", "DIGEST_SMTP_PASSWORD"):
        assert secret in text
    assert "#   name " in (tmp_path / "subscribers.yaml").read_text()


def test_init_uses_the_copied_templates_so_edits_show_in_the_preview(tmp_path, cli):
    assert init(cli, cwd=tmp_path).returncode == 0
    text_template = tmp_path / "templates" / "digest.txt.j2"
    text_template.write_text("EDITED BY THE LIST OWNER\n" + text_template.read_text())
    preview = cli("preview", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert (tmp_path / "preview/digest.txt").read_text().startswith("EDITED BY THE LIST OWNER")


def test_init_never_overwrites_and_says_which_files_it_kept(tmp_path, cli):
    (tmp_path / "templates").mkdir()
    own_config = "# mine\nsources: [{kind: file, path: papers.jsonl}]\n"
    (tmp_path / "digest.yaml").write_text(own_config)
    (tmp_path / "templates" / "digest.txt.j2").write_text("my text layout\n")

    result = init(cli, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "digest.yaml").read_text() == own_config
    assert (tmp_path / "templates" / "digest.txt.j2").read_text() == "my text layout\n"
    assert "kept (they exist; init never overwrites): digest.yaml, templates/digest.txt.j2" in result.stdout
    assert (tmp_path / "subscribers.yaml").is_file() and (tmp_path / "templates/digest.mjml.j2").is_file()

    (tmp_path / "subscribers.yaml").unlink()
    refill = init(cli, cwd=tmp_path)
    assert "wrote subscribers.yaml\n" in refill.stdout
    kept = f"digest.yaml, samples/papers.jsonl, templates/ ({len(TEMPLATES)} files)"
    assert f"kept (they exist; init never overwrites): {kept}\n" in refill.stdout

    again = init(cli, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to do, every file is there already" in again.stdout
    assert (tmp_path / "digest.yaml").read_text() == own_config
    assert not [p for p in tmp_path.rglob("*.tmp")], "temporary files left behind"


def test_init_with_name_and_sender_writes_them_quoted(tmp_path, cli):
    name = 'Lab #3: "papers"'
    result = init(cli, "--name", name, "--from", "Lab Three <lab3@example.org>", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    newsletter = yaml.safe_load((tmp_path / "digest.yaml").read_text())["newsletter"]
    assert newsletter["name"] == name and newsletter["from"] == "Lab Three <lab3@example.org>"
    preview = cli("preview", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "Lab #3" in (tmp_path / "preview" / "digest.txt").read_text()


def test_a_bad_sender_is_a_usage_error_that_writes_nothing(tmp_path, cli):
    result = init(cli, "new", "--from", "papers at example.org", cwd=tmp_path)
    assert result.returncode == 2
    assert "--from" in result.stderr and "Name <you@example.org>" in result.stderr
    assert not (tmp_path / "new").exists()


def test_init_into_a_file_is_a_usage_error(tmp_path, cli):
    (tmp_path / "taken").write_text("x")
    result = init(cli, "taken", cwd=tmp_path)
    assert result.returncode == 2
    assert "taken: is a file, not a folder" in result.stderr


def test_on_a_terminal_init_asks_for_the_name_and_sender_with_defaults(tmp_path):
    """A pseudo-terminal as stdin: the prompts appear, a bad sender is asked again, Enter keeps
    a default."""
    primary, secondary = pty.openpty()
    # Every answer typed ahead: a terminal in line mode keeps the lines until they are read.
    os.write(primary, b"Lab Papers\nnot an address\nLab <lab@example.org>\n")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "digest", "init"],
            cwd=tmp_path,
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 0, result.stderr
    assert "Newsletter name [Trending Papers]:" in result.stdout
    assert result.stdout.count("Sender (Name <address>)") == 2  # asked again after the bad one
    assert "not a mailbox" in result.stdout
    newsletter = yaml.safe_load((tmp_path / "digest.yaml").read_text())["newsletter"]
    assert newsletter == {**newsletter, "name": "Lab Papers", "from": "Lab <lab@example.org>"}
