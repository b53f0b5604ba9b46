"""How well `digest.themes` groups papers, against arXiv primary categories.

Adjusted mutual information (AMI, 0 = chance, 1 = the categories exactly) between our themes
and the papers' arXiv primary categories, on random digest-sized samples: 40 papers drawn from
4-7 categories of ../shared/fixtures/labeled/arxiv_labeled_dev.jsonl. Side by side, in the
same run and on the same samples, the usual baseline: TF-IDF + k-means told the true number of
categories. digest is told nothing: it picks the number of themes itself, with the default
settings and the built-in taxonomy. Papers reach both without their categories (the primary
category is among them). Seeds are fixed; every run prints the same figures.

A second check on arxiv_api_explicit_primary.jsonl (100 papers of 23 categories, 64 of them
cs.SE): 40 papers drawn from the whole file, whatever categories come.

    python -m eval.themes [--samples N] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from digest import themes
from digest.models import Paper, one_line

ROOT = Path(__file__).resolve().parent.parent
LABELED = ROOT.parent / "shared" / "fixtures" / "labeled"
DEV = LABELED / "arxiv_labeled_dev.jsonl"
EXPLICIT = LABELED / "arxiv_api_explicit_primary.jsonl"
SAMPLE_SIZE = 40
TARGET_RATIO = 1.3


@dataclass
class Sample:
    papers: list[Paper]
    labels: list[str]

    @property
    def k(self) -> int:
        return len(set(self.labels))


def load(path: Path) -> tuple[list[Paper], list[str]]:
    papers, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            papers.append(
                Paper(id=row["id"], title=one_line(row["title"]), abstract=one_line(row["abstract"]))
            )
            labels.append(row["primary_category"])
    return papers, labels


def digest_sized(papers: list[Paper], labels: list[str], n: int, seed0: int) -> list[Sample]:
    """`n` samples of 40 papers, each drawn from 4-7 categories chosen at random."""
    categories = sorted(set(labels))
    out = []
    for s in range(n):
        rng = random.Random(seed0 + s)
        chosen = set(rng.sample(categories, rng.randint(4, 7)))
        pool = [i for i, label in enumerate(labels) if label in chosen]
        picked = rng.sample(pool, SAMPLE_SIZE)
        out.append(Sample([papers[i] for i in picked], [labels[i] for i in picked]))
    return out


def anywhere(papers: list[Paper], labels: list[str], n: int, seed0: int) -> list[Sample]:
    out = []
    for s in range(n):
        picked = random.Random(seed0 + s).sample(range(len(papers)), SAMPLE_SIZE)
        out.append(Sample([papers[i] for i in picked], [labels[i] for i in picked]))
    return out


def ours(sample: Sample, seed: int) -> list[int]:
    grouped = themes.group(sample.papers, themes.load_taxonomy())
    where = {p.id: k for k, theme in enumerate(grouped) for p in theme.papers}
    return [where[p.id] for p in sample.papers]


def baseline(sample: Sample, seed: int) -> list[int]:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{p.title} {p.abstract}" for p in sample.papers]
    x = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2).fit_transform(texts)
    return list(KMeans(n_clusters=sample.k, n_init=10, random_state=seed).fit_predict(x))


def score(
    samples: Sequence[Sample], method: Callable[[Sample, int], list[int]]
) -> tuple[list[float], list[int]]:
    from sklearn.metrics import adjusted_mutual_info_score

    amis, ks = [], []
    for seed, sample in enumerate(samples):
        predicted = method(sample, seed)
        amis.append(adjusted_mutual_info_score(sample.labels, predicted))
        ks.append(len(set(predicted)))
    return amis, ks


def summary(values: Sequence[float]) -> str:
    return (
        f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} (sd)"
        f"  median {statistics.median(values):.3f}  range {min(values):.3f}-{max(values):.3f}"
    )


def compare(title: str, samples: list[Sample], verbose: bool) -> float:
    mine, my_k = score(samples, ours)
    base, _ = score(samples, baseline)
    ratio = statistics.mean(mine) / statistics.mean(base)
    true_k = [s.k for s in samples]
    print(f"{title}: {len(samples)} samples of {SAMPLE_SIZE} papers")
    print(f"  digest themes (picks k)      AMI {summary(mine)}")
    print(f"  TF-IDF + k-means (true k)    AMI {summary(base)}")
    wins = sum(m > b for m, b in zip(mine, base, strict=True))
    print(
        f"  ratio {ratio:.2f}x;  digest beats the baseline on {wins}"
        f"/{len(samples)} samples;  themes per sample {statistics.mean(my_k):.1f}"
        f" ({min(my_k)}-{max(my_k)}), true categories {statistics.mean(true_k):.1f}"
    )
    if verbose:
        for i, (m, b, k, t) in enumerate(zip(mine, base, my_k, true_k, strict=True)):
            print(f"    sample {i:2d}: digest {m:.3f} ({k} themes)  baseline {b:.3f} (k={t})")
    return ratio


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--samples", type=int, default=20, help="samples per data set (default 20)")
    args.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    args.add_argument("--verbose", action="store_true", help="one line per sample")
    opts = args.parse_args(argv)
    missing = [p for p in (DEV, EXPLICIT) if not p.is_file()]
    if missing:
        print(f"eval: labelled data not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("eval: the baseline needs scikit-learn: pip install -e '.[dev]'", file=sys.stderr)
        return 2

    papers, labels = load(DEV)
    ratio = compare(
        f"{DEV.name} ({len(papers)} papers, {len(set(labels))} categories), 4-7 categories per sample",
        digest_sized(papers, labels, opts.samples, opts.seed),
        opts.verbose,
    )
    papers, labels = load(EXPLICIT)
    compare(
        f"{EXPLICIT.name} ({len(papers)} papers, {len(set(labels))} categories), any categories",
        anywhere(papers, labels, opts.samples, opts.seed),
        opts.verbose,
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"target: {TARGET_RATIO}x the baseline's AMI on {DEV.name}: {verdict} it ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
