"""How often the TL;DR picker (digest/compose/tldr.py) chooses the abstract's sentence that says what
Hugging Face's own summary says, beside taking the first sentence.

On every recorded HF day in ../shared/fixtures/hf_daily_papers, each paper with an
`ai_summary` is read with that summary removed. Its abstract is cut into sentences as a card
cuts it; the reference is the sentence sharing the most distinct content words (lower case,
three letters or more, common words left out) with the summary, the earlier on a tie. Printed:
the share of papers where the picker's sentence is the reference, and where the first sentence
is; and the mean overlap of each with the summary.

    python -m eval.tldr [--verbose]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

from digest.compose import tldr
from digest.models import Paper
from digest.sources import file as file_source
from digest.util.clean import display

ROOT = Path(__file__).resolve().parent.parent
HF_DAYS = ROOT.parent / "shared" / "fixtures" / "hf_daily_papers"
_WORD = re.compile(r"[a-z0-9][a-z0-9-]{2,}")
_COMMON = frozenset(
    "the and for with that this from are was were our its their which into than can not has have "
    "such also these those over more most both each via using use used based while when where then "
    "they them all any one two new".split()
)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON}


def overlap(sentence: str, summary: str) -> int:
    return len(words(sentence) & words(summary))


def load(folder: Path = HF_DAYS) -> list[Paper]:
    """Papers of every recorded day that carry a source summary, each once."""
    seen: dict[str, Paper] = {}
    for path in sorted(folder.glob("*.json")):
        for paper in file_source.read(path):
            if paper.summary and paper.id not in seen:
                seen[paper.id] = paper
    return list(seen.values())


def measure(papers: list[Paper], verbose: bool = False) -> dict[str, float]:
    picked_hits = first_hits = 0
    picked_overlap, first_overlap = [], []
    for paper in papers:
        summary = display(paper.summary or "")
        candidates = tldr.sentences(display(paper.abstract[: tldr.SCAN_CHARS]))
        if not candidates:
            continue
        scores = [overlap(s, summary) for s in candidates]
        reference = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        chosen = tldr.best(candidates, paper.title)
        picked_hits += chosen == reference
        first_hits += reference == 0
        picked_overlap.append(scores[chosen])
        first_overlap.append(scores[0])
        if verbose and chosen != reference:
            print(f"{paper.id}: picked {chosen}, closest {reference}\n  picked:  {candidates[chosen]}")
            print(f"  closest: {candidates[reference]}\n  summary: {summary}")
    n = len(picked_overlap)
    return {
        "papers": n,
        "picked": picked_hits / n if n else 0.0,
        "first": first_hits / n if n else 0.0,
        "picked_overlap": statistics.mean(picked_overlap) if n else 0.0,
        "first_overlap": statistics.mean(first_overlap) if n else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.tldr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print each paper the picker misses")
    args = parser.parse_args(argv)
    if not HF_DAYS.is_dir():
        print(f"skipped: {HF_DAYS} is absent (the recorded fixtures)")
        return 0
    papers = load()
    r = measure(papers, args.verbose)
    print(f"TL;DR sentence vs Hugging Face ai_summary, {r['papers']} papers with a summary (removed):")
    print(
        f"  contribution picker: closest sentence {r['picked']:.0%}, "
        f"mean shared words {r['picked_overlap']:.1f}"
    )
    print(
        f"  first sentence:      closest sentence {r['first']:.0%}, "
        f"mean shared words {r['first_overlap']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
