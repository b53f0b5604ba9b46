"""The package as a stranger gets it: `python -m build` makes an sdist and a wheel that pass
`twine check`; the wheel (built from the sdist, as `build` does) carries the templates, the
starter files and the sample; installed with pipx into a fresh place, `digest init` and
`digest preview` work in an empty folder with no clone and no network."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow  # builds and installs: about 15 s with a warm pip cache

SHIPPED = [
    "digest/packs/ml.yaml",
    "digest/packs/physics.yaml",
    "digest/starter/digest.yaml",
    "digest/starter/subscribers.yaml",
    "digest/samples/papers.jsonl",
    "digest/templates/digest.mjml.j2",
    "digest/templates/digest.txt.j2",
    "digest/templates/confirm.html.j2",
    "digest/templates/archive_index.html.j2",
    "digest/templates/web/subscribe.html",
    "digest/templates/web/web.css",
]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the build package is not installed (the dev extra has it)")
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    return out


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would let Python find the clone."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def test_the_sdist_and_wheel_pass_twine_check_and_carry_the_package_data(dist):
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    stem = name.replace("-", "_")
    wheels, sdists = list(dist.glob(f"{stem}-*.whl")), list(dist.glob(f"{stem}-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    pytest.importorskip("twine", reason="twine is not installed (the dev extra has it)")
    checked = run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists, cwd=dist)
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    with tarfile.open(sdists[0]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "templates/digest.mjml.j2", "samples/papers.jsonl"} <= names
    assert not [n for n in names if n.startswith("tests/")], "tests without their helpers and fixtures"
    members = set(zipfile.ZipFile(wheels[0]).namelist())
    assert [f for f in SHIPPED if f not in members] == []
    entry_points = zipfile.ZipFile(wheels[0]).read(
        next(m for m in members if m.endswith(".dist-info/entry_points.txt"))
    )
    assert b"digest = digest.cli:main" in entry_points


def test_the_installed_wheel_inits_and_previews_in_an_empty_folder(dist, tmp_path):
    wheel = next(dist.glob("*.whl"))
    try:
        import pipx  # noqa: F401
    except ImportError:  # the same install by hand: a fresh venv and pip
        venv = tmp_path / "venv"
        run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
        run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path, env=clean_env())
        digest, python = venv / "bin" / "digest", venv / "bin" / "python"
    else:
        home, bin_dir = tmp_path / "pipx", tmp_path / "bin"
        env = clean_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "man"))
        run(sys.executable, "-m", "pipx", "install", wheel, cwd=tmp_path, env=env)
        digest = bin_dir / "digest"
        python = next(home.glob("venvs/*/bin/python"))

    folder = tmp_path / "empty"
    folder.mkdir()
    env = clean_env()
    where = run(python, "-c", "import digest; print(digest.__file__)", cwd=folder, env=env).stdout
    assert not Path(where.strip()).is_relative_to(ROOT), f"imported from the clone: {where}"

    init = run(digest, "init", cwd=folder, env=env)
    assert "wrote digest.yaml, subscribers.yaml, samples/papers.jsonl, templates/" in init.stdout
    assert (folder / "templates" / "digest.mjml.j2").read_bytes() == (
        ROOT / "templates" / "digest.mjml.j2"
    ).read_bytes()

    preview = run(digest, "preview", cwd=folder, env=env)
    assert "preview for you@example.org: 20 papers" in preview.stdout
    for name in ("digest.html", "digest.txt", "digest.eml"):
        assert (folder / "preview" / name).stat().st_size > 1000, name
    assert "Traceback" not in preview.stderr
