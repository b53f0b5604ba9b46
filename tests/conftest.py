from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"recorded public fixtures not found at {SHARED} (CI always has them)")
    return SHARED


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped example project (config, subscribers, sample) in a temp folder."""
    for name in ("digest.yaml", "subscribers.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    return tmp_path


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m digest` as a user would, in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "digest", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def cli():
    return run_cli
