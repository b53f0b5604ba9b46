"""`make demo` in a checkout that is also a deployment (the README's systemd examples run from
the checkout): the demo has its own config and folders under demo/, and deletes only a
demo/out/ it made itself."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from digest.models import arxiv_id

from .conftest import copy_checkout
from .helpers_digest import Page

BIN = Path(sys.executable).parent


def _make_demo(checkout: Path) -> subprocess.CompletedProcess[str]:
    # This venv's digest, not a new one: STAMP= skips the install step.
    return subprocess.run(
        ["make", "-s", "demo", f"BIN={BIN}", "STAMP="],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return copy_checkout(tmp_path / "checkout")


def _deployment(checkout: Path) -> dict[Path, bytes]:
    """What a deployment from the checkout keeps there: its ledger, outbox and archive."""
    (checkout / ".digest").mkdir(exist_ok=True)
    db = sqlite3.connect(checkout / ".digest" / "state.db")
    db.execute("CREATE TABLE IF NOT EXISTS mine (x TEXT)")
    db.execute("INSERT INTO mine VALUES ('the deployment''s ledger')")
    db.commit()
    db.close()
    for name, text in (
        ("outbox/2026-08-13/reader@example.org.eml", "sent"),
        ("archive/2026-08-13.html", "page"),
    ):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    folders = [checkout / name for name in (".digest", "outbox", "archive")]
    return {path: path.read_bytes() for folder in folders for path in folder.rglob("*") if path.is_file()}


def test_make_demo_leaves_a_deployment_in_the_checkout_untouched(checkout):
    before = _deployment(checkout)
    for _ in range(2):  # the second run starts afresh from the first one's demo/out
        done = _make_demo(checkout)
        assert done.returncode == 0, done.stdout + done.stderr
        out = checkout / "demo" / "out"
        assert len(list((out / "outbox").rglob("*.eml"))) == 3  # the demo's three readers, every time
        assert (out / "preview" / "digest.html").is_file() and (out / "archive" / "feed.xml").is_file()
    assert {p: p.read_bytes() for p in before} == before


def test_make_demo_refuses_to_delete_a_folder_it_did_not_make(checkout):
    theirs = checkout / "demo" / "out"
    theirs.mkdir(parents=True)
    (theirs / "state.db").write_bytes(b"somebody's ledger")
    done = _make_demo(checkout)
    assert done.returncode != 0 and "was not made by make demo: not deleting it" in done.stdout
    assert (theirs / "state.db").read_bytes() == b"somebody's ledger"


def test_the_demo_email_links_each_paper_to_its_arxiv_page_and_names_its_authors(checkout):
    """The sample behind the demo and `digest init` carries real arXiv ids and authors (and
    sample signals), so a newcomer's first email shows every part of a card."""
    sample = [json.loads(line) for line in (checkout / "samples" / "papers.jsonl").open()]
    assert len(sample) == 49 and all(arxiv_id(p["id"]) == p["id"] and p["authors"] for p in sample)
    assert all(p["upvotes"] > 0 for p in sample) and any(p.get("stars") for p in sample)
    result = _make_demo(checkout)
    assert result.returncode == 0, result.stderr
    html = (checkout / "demo" / "out" / "preview" / "digest.html").read_text()
    page = Page(html)
    links = [attrs.get("href") or "" for tag, attrs in page.elements if tag == "a"]
    abstracts = {link for link in links if link.startswith("https://arxiv.org/abs/")}
    assert len(abstracts) >= 10 and not [link for link in links if "arxiv.org/search" in link]
    by_id = {p["id"]: p for p in sample}
    for link in abstracts:  # each paper shown names its first author, with its upvotes
        paper = by_id[link.rsplit("/", 1)[1]]
        assert paper["authors"][0] in page.text and f"{paper['upvotes']} upvotes" in page.text
