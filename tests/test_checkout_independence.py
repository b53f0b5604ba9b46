"""The README's examples, run in the checkout, must not break `make test`: the tests read
their own copy of the example project (tests/fixtures/project), never the checkout's
digest.yaml or subscribers.yaml, and the list's lock file is ignored by git."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT, copy_checkout

# Tests that read the example list: they failed when a README example had changed it.
READS_THE_LIST = ["tests/test_subscribers_write.py", "tests/test_send_and_preview.py"]


def test_tests_pass_after_the_readme_subscribe_examples_change_the_checkouts_list(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    for example in (
        ["subscribe", "kenji@example.org", "--confirmed", "--timezone", "Asia/Tokyo", "--send-at", "06:45"],
        ["unsubscribe", "ada@example.org"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "digest", *example], cwd=checkout, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert "kenji@example.org" in (checkout / "subscribers.yaml").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *READS_THE_LIST],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]


def test_the_subscriber_lists_lock_file_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "subscribers.yaml.lock"], cwd=ROOT)
    assert ignored.returncode == 0
