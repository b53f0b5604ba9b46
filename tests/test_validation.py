"""Bad configuration and subscriber lists: exit 2, a message naming the line or entry, nothing sent."""

from pathlib import Path

import pytest

from digest import config as config_mod
from digest.errors import DigestError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD_LISTS = {
    "invalid email": (
        "subscribers:\n  - email: ada@example.org\n  - email: not-an-address\n",
        ["subscribers.yaml:3", "entry 2 (not-an-address)", "email"],
    ),
    "unknown key": (
        "subscribers:\n  - email: ada@example.org\n    colour: blue\n",
        ["subscribers.yaml:3", "entry 1 (ada@example.org)", "unknown field 'colour'", "timezone"],
    ),
    "bad time zone": (
        "subscribers:\n  - email: ada@example.org\n    timezone: Mars/Olympus_Mons\n",
        ["subscribers.yaml:3", "unknown time zone 'Mars/Olympus_Mons'", "Europe/London"],
    ),
    "yaml syntax error": (
        "subscribers:\n  - email: ada@example.org\n    name: [unclosed\n  - email: bob@example.org\n",
        ["subscribers.yaml:4", "YAML syntax error"],
    ),
    "duplicate address": (
        "subscribers:\n  - email: Ada@Example.org\n  - email: ada@example.org\n",
        ["subscribers.yaml:3", "duplicate address, already listed at line 2"],
    ),
    "send_at unquoted, which YAML reads as minutes": (
        "subscribers:\n  - email: ada@example.org\n    send_at: 12:30\n",
        ["subscribers.yaml:3", "entry 1 (ada@example.org)", 'in quotes: send_at: "12:30"'],
    ),
    "a word where a list belongs": (
        "subscribers:\n  - email: ada@example.org\n    keywords: tokenizer\n",
        ["subscribers.yaml:3", "keywords: Input should be a valid list; write a list, e.g. [tokenizer]"],
    ),
    "a bare address as an entry": (
        "subscribers:\n  - ada@example.org\n",
        [
            "subscribers.yaml:2",
            "entry 1: expected a mapping with at least 'email:'; write '- email: ada@example.org'",
        ],
    ),
    "bad send_at": (
        "subscribers:\n  - email: ada@example.org\n    send_at: '25:00'\n",
        ["subscribers.yaml:3", "send_at", "HH:MM"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LISTS))
def test_bad_subscriber_list_exits_2_naming_the_line_and_sends_nothing(project, cli, case):
    text, expected = BAD_LISTS[case]
    _write(project / "subscribers.yaml", text)
    for command in (["subscribers", "--check"], ["send"]):
        result = cli(*command, cwd=project)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        for fragment in expected:
            assert fragment in result.stderr, (command, fragment, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (project / "outbox").exists()


def test_check_reports_every_problem_not_just_the_first(project, cli):
    _write(
        project / "subscribers.yaml",
        "subscribers:\n  - email: nope\n  - email: b@example.org\n    frequency: hourly\n",
    )
    result = cli("subscribers", "--check", cwd=project)
    assert result.returncode == 2
    assert "subscribers.yaml:2" in result.stderr and "subscribers.yaml:4" in result.stderr
    assert "2 problem(s)" in result.stderr


def test_valid_list_checks_clean_with_status_counts(project, cli):
    result = cli("subscribers", "--check", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "3 subscribers (3 active)" in result.stdout


def test_config_errors_name_line_and_field(tmp_path):
    path = _write(
        tmp_path / "digest.yaml",
        (
            "newsletter:\n"
            "  name: X\n"
            "  from: not a mailbox\n"
            "  base_url: ftp://nowhere\n"
            "sources:\n"
            "  - kind: file\n"
            "    path: p.jsonl\n"
            "    colour: red\n"
            "delivery:\n"
            "  url: pigeon://coop\n"
        ),
    )
    with pytest.raises(DigestError) as caught:
        config_mod.load(path)
    text = "\n".join(caught.value.problems)
    assert "digest.yaml:3: newsletter.from:" in text
    assert "digest.yaml:4: newsletter.base_url:" in text
    assert "digest.yaml:8: unknown field 'sources[0].colour'" in text
    assert "digest.yaml:10: delivery.url:" in text and "file://DIR" in text


def test_an_unknown_top_level_key_lists_only_keys_the_file_may_have(tmp_path):
    path = _write(
        tmp_path / "digest.yaml", "sources:\n  - kind: file\n    path: p.jsonl\nsubscriber: s.yaml\n"
    )
    with pytest.raises(DigestError) as caught:
        config_mod.load(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:4: unknown field 'subscriber'; known fields: newsletter, sources,")
    assert "subscribers" in problem and not problem.endswith(", path")


def test_a_key_written_twice_is_an_error_not_a_silent_override(tmp_path, project, cli):
    path = _write(
        tmp_path / "other.yaml",
        "sources:\n  - kind: file\n    path: a.jsonl\narchive: web\n"
        "sources:\n  - kind: file\n    path: b.jsonl\n",
    )
    with pytest.raises(DigestError) as caught:
        config_mod.load(path)
    assert (
        f"{path}:5:1: YAML syntax error: duplicate key 'sources' (also at line 1)" in caught.value.problems[0]
    )
    _write(
        project / "subscribers.yaml",
        "subscribers:\n  - email: ada@example.org\n    topics: [retrieval]\n    topics: [agents]\n",
    )
    result = cli("subscribers", "--check", cwd=project)
    assert result.returncode == 2
    assert "subscribers.yaml:4:5: YAML syntax error: duplicate key 'topics' (also at line 3)" in result.stderr


def test_a_merge_key_may_still_be_overridden(tmp_path):
    path = _write(
        tmp_path / "digest.yaml",
        "x-source: &file\n  kind: file\n  path: a.jsonl\nsources:\n  - <<: *file\n    path: b.jsonl\n",
    )
    with pytest.raises(DigestError) as caught:  # x-source is unknown, and only that
        config_mod.load(path)
    assert "unknown field 'x-source'" in caught.value.problems[0] and len(caught.value.problems) == 1


def test_a_file_not_saved_as_utf8_names_the_line_of_the_first_bad_byte(project, cli):
    config = project / "digest.yaml"
    config.write_bytes(config.read_bytes() + b"# caf\xe9\n")
    line = config.read_bytes().count(b"\n")
    result = cli("send", "--dry-run", cwd=project)
    assert result.returncode == 2
    assert f"digest.yaml:{line}: not UTF-8 text (byte 0xe9); save the file as UTF-8" in result.stderr
    config.write_bytes(config.read_bytes().replace(b"# caf\xe9\n", b""))
    subscribers = project / "subscribers.yaml"
    subscribers.write_bytes(subscribers.read_bytes() + b"  - email: jos\xe9@example.org\n")
    line = subscribers.read_bytes().count(b"\n")
    for command in (("subscribers", "--check"), ("send",), ("unsubscribe", "ada@example.org")):
        result = cli(*command, cwd=project)
        assert result.returncode == 2
        assert f"subscribers.yaml:{line}: not UTF-8 text (byte 0xe9)" in result.stderr, result.stderr


def test_config_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "lab").mkdir()
    path = _write(tmp_path / "lab" / "digest.yaml", "sources:\n  - kind: file\n    path: p.jsonl\n")
    config = config_mod.load(path)
    assert config.sources[0].path == tmp_path / "lab" / "p.jsonl"
    assert config.list_path == tmp_path / "lab" / "subscribers.yaml"
    assert config.outbox == tmp_path / "lab" / "outbox"


def test_missing_config_is_a_usage_error(tmp_path, cli):
    result = cli("send", "--config", tmp_path / "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml: file not found" in result.stderr


def test_running_outside_the_project_folder_says_where_the_config_is_looked_for(tmp_path, cli):
    result = cli("preview", cwd=tmp_path)
    assert result.returncode == 2
    assert "digest.yaml: file not found" in result.stderr and "--config PATH" in result.stderr


def test_config_may_come_before_or_after_the_command(project, tmp_path, cli):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (
        ("--config", project / "digest.yaml", "subscribers"),
        ("subscribers", "--config", project / "digest.yaml"),
    ):
        result = cli(*args, cwd=elsewhere)
        assert result.returncode == 0 and "3 subscribers" in result.stdout, result.stderr


def test_a_subscribers_key_with_no_entries_is_an_empty_list_that_subscribe_can_fill(project, cli):
    # What is left after deleting every entry of the example file: `subscribers:` and nothing.
    _write(project / "subscribers.yaml", "# our readers\nsubscribers:   # add below\n")
    listed = cli("subscribers", "--check", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "0 subscribers" in listed.stdout
    added = cli("subscribe", "kenji@example.org", "--confirmed", cwd=project)
    assert added.returncode == 0, added.stderr
    text = (project / "subscribers.yaml").read_text(encoding="utf-8")
    assert "# our readers" in text and "- email: kenji@example.org" in text
    assert cli("subscribers", "--check", cwd=project).returncode == 0


def test_a_list_at_the_top_of_subscribers_yaml_says_how_to_write_it(project, cli):
    _write(project / "subscribers.yaml", "- email: ada@example.org\n")
    result = cli("subscribers", "--check", cwd=project)
    assert result.returncode == 2
    assert "subscribers.yaml:1: expected 'subscribers:' followed by a list of entries" in result.stderr
    assert "- email: you@example.org" in result.stderr
