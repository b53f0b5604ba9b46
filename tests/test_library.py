"""A reader's library from the files people have: BibTeX (Zotero, Google Scholar), a Zotero
CSV export, a list of arXiv ids; arXiv entries without text looked up on a replayed arXiv API;
and `digest subscribe --library` storing it, every entry left out named by its line."""

from __future__ import annotations

import shutil

import pytest

from digest import config as config_mod
from digest.errors import DigestError
from digest.issue import library
from digest.store import open_stores

from .conftest import FIXTURES
from .helpers_http import ReplayServer, Reply, recorded_reply
from .helpers_web import free_port

LIBRARY = FIXTURES / "library"


def test_bibtex_from_zotero_and_scholar_gives_arxiv_ids_doi_ids_and_names_what_it_cannot_use():
    found = library.read(LIBRARY / "zotero.bib")
    assert [(e.id, e.title) for e in found.entries] == [
        ("1706.03762", "Attention Is All You Need"),  # braces that protect case are gone
        ("1810.04805", "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"),
        ("1409.0473", "Neural machine translation by jointly learning to align and translate"),
        ("doi:10.1038/nature14539", "Deep learning"),
    ]
    assert found.entries[0].abstract.startswith("The dominant sequence transduction models")
    assert found.problems == [
        f"{LIBRARY / 'zotero.bib'}:42: no title and no arXiv id to look it up by; left out",
        f"{LIBRARY / 'zotero.bib'}:47: the entry never closes (a brace is missing); left out",
    ]
    assert library.missing(found) == ["1810.04805", "1409.0473"]  # arXiv ids without an abstract


def test_a_zotero_csv_export_reads_its_columns_and_its_extra_field():
    found = library.read(LIBRARY / "zotero.csv")
    assert [(e.id, e.line) for e in found.entries] == [
        ("1706.03762", 2),
        ("doi:10.1038/nature14539", 3),
        ("2401.00001", 4),  # only `Extra: arXiv: ...`: looked up later
    ]
    assert library.missing(found) == ["2401.00001"]


def test_a_list_of_ids_says_why_a_doi_alone_or_a_stray_line_is_left_out():
    found = library.read(LIBRARY / "ids.txt")
    assert [e.id for e in found.entries] == ["1707.08567", "0808.05394"]
    where = LIBRARY / "ids.txt"
    assert found.problems == [
        f"{where}:4: 10.1038/nature14539: a DOI alone cannot be looked up; give its arXiv id, or the "
        "library as BibTeX, which carries titles and abstracts",
        f"{where}:5: 'not a paper' is not an arXiv id, arXiv URL or DOI",
    ]


def test_a_file_that_is_not_text_is_refused_with_its_line(tmp_path):
    path = tmp_path / "lib.bib"
    path.write_bytes(b"@article{a,\n title={\xff}}\n")
    with pytest.raises(Exception, match=r"lib.bib:2: not UTF-8 text"):
        library.read(path)


@pytest.fixture
def arxiv(shared_fixtures):
    """The arXiv API, replaying the recorded answer to id_list=0808.05394,1707.08567 (it knows
    only the second)."""
    recorded = (
        shared_fixtures / "arxiv_api" / "arxivpy_fixture_id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.json"
    )
    with ReplayServer() as server:
        server.routes["/api/query"] = recorded_reply(recorded)
        yield server


def test_subscribe_with_a_library_looks_up_arxiv_ids_and_names_the_ones_arxiv_does_not_know(
    project, cli, arxiv
):
    shutil.copy(LIBRARY / "ids.txt", project / "ids.txt")
    with (project / "digest.yaml").open("a") as handle:
        handle.write(f"\nlibraries:\n  arxiv_url: {arxiv.url}\n")
    result = cli("subscribe", "ada@example.org", "--library", "ids.txt", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "ada@example.org: library of 1 paper from ids.txt" in result.stdout
    assert "ids.txt:3: arXiv has no paper 0808.05394; left out" in result.stderr
    (asked,) = arxiv.hits("/api/query")
    assert asked.query["id_list"] == "1707.08567,0808.05394"
    with open_stores(config_mod.load(project / "digest.yaml"), readonly=True) as opened:
        ((pid, title, abstract),) = opened.own_papers.library("ada@example.org")
        kept = opened.own_papers.paper("1707.08567")  # the looked-up text is kept for next time
    assert pid == "1707.08567" and title.startswith("Proceedings of Workshop AEW10") and abstract
    assert kept is not None and kept[0] == title


@pytest.mark.parametrize("fault", ["refused", "503"])
def test_with_arxiv_unreachable_a_lookup_never_claims_a_paper_does_not_exist(project, cli, fault):
    (project / "ids.txt").write_text("2004.04906\n1707.08567\n")
    with ReplayServer() as server:
        server.routes["/api/query"] = Reply(b"unavailable", 503, "text/plain")
        # "refused": a loopback port nothing listens on
        url = server.url if fault == "503" else f"http://127.0.0.1:{free_port()}"
        with (project / "digest.yaml").open("a") as handle:
            handle.write(f"\nlibraries:\n  arxiv_url: {url}\nfetch:\n  retries: 1\n  backoff: 0\n")
        result = cli("subscribe", "ada@example.org", "--library", "ids.txt", cwd=project)
    assert "could not look up 2 arXiv ids" in result.stderr
    assert "has no paper" not in result.stderr, result.stderr
    assert "ids.txt:1: 2004.04906 has no title and was not looked up (arXiv did not answer)" in result.stderr
    assert result.returncode == 2 and "nothing was changed" in result.stderr


def test_a_library_with_nothing_usable_changes_nothing(project, cli):
    (project / "empty.txt").write_text("# nothing here\nnot a paper\n")
    before = (project / "subscribers.yaml").read_bytes()
    result = cli("subscribe", "kenji@example.org", "--library", "empty.txt", cwd=project)
    assert result.returncode == 2 and "empty.txt: no paper in it could be used" in result.stderr
    assert (project / "subscribers.yaml").read_bytes() == before


def test_readers_sharing_a_library_file_have_it_read_and_looked_up_once_per_run(project, cli, arxiv):
    """A lab's 3 readers name one file: a dry run (which stores nothing) asks arXiv once, not
    once per reader, and each reader still gets the library's profile."""
    shutil.copy(LIBRARY / "ids.txt", project / "ids.txt")
    lab = "".join(
        f"  - email: lab{i}@example.org\n    timezone: UTC\n    library: ids.txt\n" for i in range(3)
    )
    (project / "subscribers.yaml").write_text("subscribers:\n" + lab)
    with (project / "digest.yaml").open("a") as handle:
        handle.write(f"\nlibraries:\n  arxiv_url: {arxiv.url}\n")
    now = "2026-11-26T09:00:00Z"
    result = cli("send", "--dry-run", "--now", now, cwd=project)
    assert result.returncode == 0  # the file's unusable lines are warned about, once each
    assert result.stderr.count("ids.txt:3: arXiv has no paper 0808.05394; left out") == 1, result.stderr
    assert result.stdout.count("would send ") == 3 + 1  # and the summary line
    assert len(arxiv.hits("/api/query")) == 1
    explained = cli(
        "preview", "--to", "lab2@example.org", "--explain", "--now", now, "--out", "pv", cwd=project
    )
    assert "your papers: 1 (1 in your library" in explained.stdout, explained.stdout


def test_readers_with_the_same_stored_profile_share_it_and_rank_as_with_their_own(project, cli):
    """The second run reads the stored profiles: readers of one library get one object (what
    ranking works out from it is then worked out once), and the same picks as from a copy."""
    from datetime import UTC, datetime

    from digest.compose.build import Builder, issue_for
    from digest.issue import similar
    from digest.jobs.profiles import for_run
    from digest.sources import file as file_source

    (project / "lib.bib").write_text(
        "@article{a,\n title={Sparse attention for long-context language models},\n"
        " abstract={We make attention sparse so language models read long documents.}}\n"
    )
    lab = "".join(
        f"  - email: lab{i}@example.org\n    timezone: UTC\n    library: lib.bib\n" for i in range(3)
    )
    (project / "subscribers.yaml").write_text("subscribers:\n" + lab)
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    config = config_mod.load(project / "digest.yaml")
    with open_stores(config) as opened:
        profiles, close = for_run(config, opened.own_papers, readonly=False)
        readers = list(opened.subscribers.readers())
        first = [profiles.of(r) for r in readers]  # made once, stored for each
        profiles, close = for_run(config, opened.own_papers, readonly=True)
        again = [profiles.of(r) for r in readers]
        close()
    assert first[0] is not None and all(p is first[0] for p in first)
    assert again[0] is not None and all(p is again[0] for p in again)
    papers = file_source.read(project / "samples" / "papers.jsonl")
    builder = Builder(config, issue_for(config, papers, now), now, "s")
    for reader, profile in zip(readers, again, strict=True):
        own = similar.Profile.from_json(profile.to_json())
        assert builder.picks(reader, frozenset(), profile) == builder.picks(reader, frozenset(), own)


def test_a_library_line_that_cannot_be_used_is_a_warning_in_send_and_preview_alike(project, cli):
    """A reader's library line that cannot be used fails no delivery: both commands warn,
    name the line and exit 0 (send used to call it an error and exit 1, preview a warning)."""
    (project / "lib.bib").write_text(
        "@article{kept, title={Dense retrieval with tokenizers}, abstract={We study retrieval.}}\n"
        "@misc{doi, doi={10.1038/nature14539}}\n"
    )
    (project / "subscribers.yaml").write_text(
        "subscribers:\n  - email: lib@example.org\n    timezone: UTC\n    library: lib.bib\n"
    )
    with (project / "digest.yaml").open("a") as handle:
        handle.write("\nlibraries:\n  lookup: false\n")
    now = "2026-11-26T07:00:00+00:00"
    previewed = cli("preview", "--to", "lib@example.org", "--out", "pv", "--now", now, cwd=project)
    sent = cli("send", "--now", now, cwd=project)
    for result in (previewed, sent):
        assert result.returncode == 0, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if "lib.bib:2" in line]
        assert line.startswith("warning: ") and "left out" in line


def _hostile(n: int) -> dict[str, tuple[str, str]]:
    """Files shaped to make a naive reader rescan: (text, suffix) by name, growing with n."""
    good = "@article{k, title = {A title}, eprint = {2401.00001}}\n"
    return {
        "unclosed entries": ("@a{" * n, ".bib"),
        "unclosed entries on lines": ("@a{\n" * n, ".bib"),
        "entries inside an unclosed one": ("@a{\n" + good * n, ".bib"),
        "entries nested in a closed one": ("@a{k,\n" + good * n + "}\n", ".bib"),
        "one deep value": ("@a{k, title = {" + "{" * (3 * n) + "}\n", ".bib"),
        "many fields": ("@a{k" + ", f = {x}" * n + "}\n", ".bib"),
        "arxiv mentions": ("@a{k, journal = {" + "arxiv" * n + "}}\n", ".bib"),
        "tex commands": ("@a{k, title = {" + "\\emph{" * n + "}}\n", ".bib"),
        "at signs": ("@" * (3 * n), ".bib"),
        "csv mentions": ('Title,Extra\n"t","' + "arxiv" * n + '"\n', ".csv"),
        "id lines": ("arxiv" * n + "\n" + "2401.00001\n" * n, ".txt"),
    }


@pytest.mark.parametrize("shape", list(_hostile(1)))
def test_hostile_libraries_are_read_in_steps_linear_in_their_size(shape):
    steps = []
    for n in (2000, 4000):
        text, suffix = _hostile(n)[shape]
        found = library.parse(text, "up.bib", suffix)
        assert found.steps <= 8 * len(text) + 100, (n, found.steps, len(text))
        steps.append(found.steps)
    assert steps[1] <= 2.2 * steps[0]  # twice the file, twice the work (a rescan would be 4x)


def test_an_unclosed_entry_is_reported_once_and_the_entries_after_it_are_read():
    text = "@a{k, title = {Lost\n\n@article{b, title = {Kept}, eprint = {2401.00001}}\n"
    found = library.parse(text, "up.bib", ".bib")
    assert [e.id for e in found.entries] == ["2401.00001"]
    assert found.problems == ["up.bib:1: the entry never closes (a brace is missing); left out"]


def test_a_file_of_thousands_of_unclosed_entries_is_refused_naming_the_cap():
    with pytest.raises(DigestError, match=r"up\.bib:1: more than 10,000 entries"):
        library.parse("@a{" * 12_000, "up.bib", ".bib")


def test_a_library_too_large_or_too_complex_is_refused_naming_what():
    with pytest.raises(DigestError, match=r"up\.bib: 4,000,001 characters, over the 4,000,000"):
        library.parse("x" * (library.MAX_CHARS + 1), "up.bib", ".bib")
    text = "@a{k, title = {t}, eprint = {2401.00001}}\n" * 100
    with pytest.raises(DigestError, match=r"up\.bib: too complex to read \(over 1,000 steps\)"):
        library.parse(text, "up.bib", ".bib", max_steps=1000)


def test_a_csv_cell_past_the_csv_limit_names_its_line():
    text = "Title,Abstract Note\nfine,abstract\n" + '"t","' + "x" * 200_000 + '"\n'
    with pytest.raises(DigestError, match=r"up\.csv:3: not readable as CSV"):
        library.parse(text, "up.csv", ".csv")
