"""The library API: what `digest.__all__` names resolves, importing the package loads none of
the stages, and the library example (docs/library.md) runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from email import message_from_bytes, policy

import digest

from .conftest import ROOT


def test_every_exported_name_resolves_and_nothing_else_is_offered():
    for name in digest.__all__:
        assert getattr(digest, name) is not None, name
    assert sorted(dir(digest)) == sorted(digest.__all__)
    try:
        digest.not_a_name  # noqa: B018
    except AttributeError as exc:
        assert "not_a_name" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_importing_the_package_loads_no_stage():
    stages = "('digest.', 'mjml', 'jinja2')"
    code = f"import sys, digest; print(sorted(m for m in sys.modules if m.startswith({stages})))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_docs_library_example_runs_and_writes_a_message(project):
    page = (ROOT / "docs" / "library.md").read_text()
    block = re.search(r"<!-- library example[^>]*-->\n```python\n(.*?)```", page, re.S)
    assert block, "docs/library.md lost its library example"
    result = subprocess.run(
        [sys.executable, "-c", block.group(1)], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    subject, titles = result.stdout.strip().splitlines()
    assert "more trending paper" in subject and titles.startswith("[")
    msg = message_from_bytes((project / "ada.eml").read_bytes(), policy=policy.default)
    assert msg["To"] == "ada@example.org" and msg["Subject"] == subject


def test_all_lists_exactly_the_exports():
    assert set(digest.__all__) - {"__version__"} == set(digest._EXPORTS)


def test_no_exported_name_is_also_a_submodule():
    """`from digest import send` inside the package must get the module, whatever was used first."""
    import importlib.util

    assert [n for n in digest.__all__ if importlib.util.find_spec(f"digest.{n}") is not None] == []
