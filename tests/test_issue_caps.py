"""One large or hostile source cannot swamp an issue: `fetch.max_papers_per_source` and
`fetch.max_papers_per_issue` keep the papers with the strongest signals (then the first listed),
deterministically, and say which source lost how many."""

from __future__ import annotations

import json
from pathlib import Path

from digest import sources
from digest.config import Fetch, FileSource


def _file(path: Path, prefix: str, n: int, *, upvotes: bool = False) -> FileSource:
    with path.open("w") as out:
        for i in range(n):
            paper = {"id": f"{prefix}-{i}", "title": f"Paper {prefix} {i}", "abstract": "An abstract."}
            if upvotes:
                paper["upvotes"] = (i * 7919) % n  # every count once, in a scrambled order
            out.write(json.dumps(paper) + "\n")
    return FileSource(kind="file", path=path, name=prefix)


def test_a_source_over_its_cap_keeps_its_most_upvoted_papers_and_says_what_it_dropped(tmp_path):
    flood = _file(tmp_path / "flood.jsonl", "flood", 2600, upvotes=True)
    small = _file(tmp_path / "small.jsonl", "small", 5)
    collected = sources.collect([flood, small], options=Fetch())
    assert Fetch().max_papers_per_source == 2000
    kept = [p for p in collected.papers if p.id.startswith("flood-")]
    assert len(kept) == 2000 and min(p.upvotes or 0 for p in kept) == 600  # the top 2000 of 0..2599
    assert sum(p.id.startswith("small-") for p in collected.papers) == 5  # the small source is whole
    assert any(
        "source flood: 2600 papers, over fetch.max_papers_per_source (2000)" in n and "600 left out" in n
        for n in collected.notes
    )
    again = sources.collect([flood, small], options=Fetch())
    assert [p.id for p in again.papers] == [p.id for p in collected.papers]  # the same every run


def test_an_issue_over_its_cap_takes_each_sources_best_in_turn(tmp_path):
    big = [_file(tmp_path / f"s{n}.jsonl", f"s{n}", 1500) for n in range(3)]
    small = _file(tmp_path / "small.jsonl", "small", 10)
    collected = sources.collect([*big, small], options=Fetch())
    assert Fetch().max_papers_per_issue == 3000
    assert len(collected.papers) == 3000
    counts = {name: sum(p.id.startswith(f"{name}-") for p in collected.papers) for name in ("s0", "s1", "s2")}
    assert counts == {"s0": 997, "s1": 997, "s2": 996}  # taking turns: none crowds out another
    assert sum(p.id.startswith("small-") for p in collected.papers) == 10
    assert [p.id for p in collected.papers if p.id.startswith("s0-")] == [f"s0-{i}" for i in range(997)]
    assert any(
        "4510 papers from all sources, over fetch.max_papers_per_issue (3000)" in n
        and "s0 503, s1 503, s2 504" in n
        for n in collected.notes
    )


def test_a_smaller_cap_in_the_config_is_used(tmp_path):
    flood = _file(tmp_path / "flood.jsonl", "flood", 50)
    collected = sources.collect([flood], options=Fetch(max_papers_per_source=10, max_papers_per_issue=8))
    assert [p.id for p in collected.papers] == [f"flood-{i}" for i in range(8)]
