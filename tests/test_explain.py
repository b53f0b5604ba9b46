"""`digest preview --explain`: every paper's score, its parts and why it was or was not picked."""

import json
import re

NOW = "2026-11-26T07:00:00+00:00"


def test_explain_shows_the_blend_each_papers_parts_and_every_decision(project, cli):
    result = cli(
        "preview", "--to", "grace@example.org", "--out", "pv", "--now", NOW, "--explain", cwd=project
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "score = 0.40 x trending + 0.60 x relevance" in out
    rows = re.findall(
        r"^  (picked #\d+|excluded: \S+|below min score|theme full|over max papers)\s", out, re.M
    )
    assert len(rows) == 49  # every paper of the issue, picked or not
    assert "excluded: biomedical" in rows  # Grace excludes biomedical; the sample has BIOptimus
    picked = [r for r in rows if r.startswith("picked")]
    subject = re.search(r"preview for grace@example.org: (\d+) papers", out)
    assert subject and len(picked) == int(subject.group(1))
    assert "relevance: keyword speech" in out and "-> popularity" in out and "theme: " in out
    # each paper's place in the listing, which its listing factor comes from
    assert sorted(int(n) for n in re.findall(r" position (\d+) -> listing", out)) == list(range(1, 50))


def test_explain_for_a_reader_without_preferences_says_trending_only(project, cli):
    result = cli("preview", "--to", "alan@example.org", "--out", "pv", "--now", NOW, "--explain", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "(no preferences: trending only)" in result.stdout
    assert "relevance:" not in result.stdout


def test_explain_names_the_voted_paper_a_score_comes_from_and_says_only_the_parts_there_are(project, cli):
    from digest import config as config_mod
    from digest.store import stores

    # Alan (no preferences) marked one of the sample's papers "more like this" from an email.
    config = config_mod.load(project / "digest.yaml")
    liked = "Rephrasing the Web: A Recipe for Compute and Data-Efficient Language Modeling"
    sample = [json.loads(line) for line in (project / "samples" / "papers.jsonl").open()]
    (paper,) = [p for p in sample if p["title"] == liked]
    with stores(config) as opened:
        opened.own_papers.remember_papers([("liked.1", liked, paper["abstract"], None)])
        opened.own_papers.record_feedback("alan@example.org", "liked.1", 1)
    result = cli("preview", "--to", "alan@example.org", "--out", "pv", "--now", NOW, "--explain", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "your papers: 1 (1 marked more like this)\n" in out  # no "0 in your library", no "the rest less"
    evidence = re.findall(r"relevance: (.*) -> 1 - exp", out)
    assert evidence and all("library " not in e or "library like “" in e for e in evidence), evidence
    assert f"library like “{liked}” you marked more like this" in out
