"""Arguments a person can mistype: every one is a usage error (exit 2) naming the option,
never a traceback, and nothing is sent or written."""

import pytest


@pytest.mark.parametrize(
    "command",
    [
        ("serve", "--dev", "--port", "99999"),
        ("serve", "--dev", "--port", "-1"),
        ("preview", "--serve", "--port", "70000"),
    ],
)
def test_a_port_outside_0_to_65535_is_a_usage_error(project, cli, command):
    result = cli(*command, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "--port" in result.stderr and "0 to 65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("poll", ["inf", "1e300"])
def test_a_poll_interval_too_long_to_schedule_is_a_usage_error(project, cli, poll):
    result = cli("schedule", "--poll", poll, cwd=project)
    assert result.returncode == 2, result.stderr
    assert f"--poll {float(poll)}" in result.stderr and "86400" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "outbox").exists()


@pytest.mark.parametrize(
    "command",
    [
        ("send", "--due", "--now", "0001-01-01T00:00:00Z"),
        ("send", "--due", "--now", "9999-12-31T23:59:59Z"),
        ("archive", "--now", "0001-01-01T00:00:00Z"),
        ("schedule", "--now", "9999-12-31T23:59:00Z"),
    ],
)
def test_a_now_at_the_edge_of_the_calendar_is_a_usage_error(project, cli, command):
    result = cli(*command, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "--now" in result.stderr and "between the years" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "outbox").exists() and not (project / "archive").exists()


@pytest.mark.parametrize("command", ["send", "preview", "archive", "schedule"])
def test_now_help_says_how_a_time_without_an_offset_is_read(project, cli, command):
    result = cli(command, "--help", cwd=project)
    assert "UTC unless it has an offset" in " ".join(result.stdout.split())
