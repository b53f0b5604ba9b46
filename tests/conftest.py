from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared" / "fixtures"
# The tests' own copy of the shipped example configuration and list: the checkout's
# digest.yaml and subscribers.yaml are the user's to edit (the README's `digest subscribe`
# examples change them), so no test reads them.
EXAMPLE = FIXTURES / "project"


def copy_checkout(folder: Path) -> Path:
    """The checkout's tracked kind of files in `folder`: not its venv, git data or whatever a
    deployment or the demo wrote there (a state database, an outbox, an archive)."""
    skip = (".venv", ".git", "*.egg-info", "test-artifacts", ".digest", "outbox", "archive", "preview", "out")
    shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(*skip))
    return folder


def copy_example(folder: Path) -> Path:
    """The example project (config, readers, the shipped sample papers) in `folder`."""
    for name in ("digest.yaml", "subscribers.yaml"):
        shutil.copy(EXAMPLE / name, folder / name)
    shutil.copytree(ROOT / "samples", folder / "samples")
    return folder


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"recorded public fixtures not found at {SHARED} (CI always has them)")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole run (started only if a test asks for it)."""
    from .helpers_postgres import SKIP_REASON, PostgresServer, server_binaries

    pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(binaries).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a new, empty database on the test run's PostgreSQL server."""
    return postgres_server.new_database()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project (config, subscribers, sample) in a temp folder."""
    return copy_example(tmp_path)


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m digest` as a user would, in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "digest", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# Long-running commands, and the ones that install signal handlers or configure logging for
# the whole process, run as a real process; everything else in this one.
OWN_PROCESS = ("schedule", "serve")


def run_cli_here(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same as `run_cli`, through `digest.cli.main` in this process: what a user sees
    (exit code, stdout, stderr) without paying 0.7 s of interpreter start-up per call."""
    argv = [str(a) for a in args]
    # DIGEST_TEST_CLI=process: every call a real process, to compare or to rule this out.
    as_process = os.environ.get("DIGEST_TEST_CLI") == "process"
    if as_process or not argv or argv[0] in OWN_PROCESS or "--serve" in argv:
        return run_cli(*args, cwd=cwd)
    from digest.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["digest", *argv], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli_here
