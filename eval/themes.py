"""How well `digest.issue.themes` groups papers, against arXiv primary categories.

Two labelled sets under ../shared/fixtures/labeled/: arxiv_labeled_dev.jsonl (computer science)
and arxiv_beyond_cs_dev.jsonl (physics, astronomy, mathematics, statistics, biology, finance).
On each, random digest-sized days: 40 papers drawn from 4-7 categories. Per set it prints

- AMI (adjusted mutual information: 0 = chance, 1 = the categories exactly) between our themes
  and the papers' primary categories, beside the usual baseline on the same samples in the same
  run: TF-IDF + k-means told the true number of categories. digest is told nothing: it picks
  the number of themes itself, with the default settings. Papers reach both without their
  categories (otherwise the answer is in the input);
- the catch-all share: papers left in "More trending papers";
- the label check: the share of papers under a heading that is a field pack's theme (of any
  pack) whose own arXiv categories do not include the paper's primary category: "Computer
  vision" over an exoplanet paper.

Seeds are fixed; every run prints the same figures.

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

from digest.issue import themes
from digest.models import Paper, Theme, in_category, one_line

ROOT = Path(__file__).resolve().parent.parent
LABELED = ROOT.parent / "shared" / "fixtures" / "labeled"
DEV = LABELED / "arxiv_labeled_dev.jsonl"
BEYOND = LABELED / "arxiv_beyond_cs_dev.jsonl"
EXPLICIT = LABELED / "arxiv_api_explicit_primary.jsonl"
SAMPLE_SIZE = 40
TARGET_RATIO = 1.3
TARGET_CS_RATIO = 1.6
MAX_CATCH_ALL = 0.10
MAX_WRONG_LABEL = 0.05


@dataclass
class Sample:
    papers: list[Paper]
    labels: list[str]

    @property
    def k(self) -> int:
        return len(set(self.labels))


@dataclass
class Scores:
    ami: list[float]
    ks: list[int]
    catch_all: float  # share of all sampled papers
    wrong_label: float


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


def grouped(sample: Sample) -> list[Theme]:
    return themes.group(sample.papers, themes.load_taxonomy())


def ours(sample: Sample, seed: int) -> list[int]:
    where = {p.id: k for k, theme in enumerate(grouped(sample)) for p in theme.papers}
    return [where[p.id] for p in sample.papers]


def baseline(sample: Sample, seed: int) -> list[int]:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{p.title} {p.abstract}" for p in sample.papers]
    x = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2).fit_transform(texts)
    return list(KMeans(n_clusters=sample.k, n_init=10, random_state=seed).fit_predict(x))


def pack_categories() -> dict[str, tuple[str, ...]]:
    """Every field pack's theme labels, each with its arXiv categories (lower case)."""
    return {
        t.label: tuple(c.lower() for c in t.categories) for t in themes.load_taxonomy(packs=themes.PACK_NAMES)
    }


def wrong_labels(found: Sequence[Theme], labels: dict[str, str], known: dict[str, tuple[str, ...]]) -> int:
    """Papers under a pack theme's heading (or one of its sub-themes, "Language models: ...")
    whose primary category is not among the theme's own."""
    wrong = 0
    for theme in found:
        label = theme.label.split(": ", 1)[0]
        if label not in known:
            continue
        wrong += sum(1 for p in theme.papers if not in_category(labels[p.id], known[label]))
    return wrong


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


def score_ours(samples: Sequence[Sample]) -> Scores:
    from sklearn.metrics import adjusted_mutual_info_score

    known = pack_categories()
    amis, ks, more, wrong, total = [], [], 0, 0, 0
    for sample in samples:
        found = grouped(sample)
        where = {p.id: k for k, theme in enumerate(found) for p in theme.papers}
        predicted = [where[p.id] for p in sample.papers]
        amis.append(adjusted_mutual_info_score(sample.labels, predicted))
        ks.append(len(set(predicted)))
        more += sum(len(t.papers) for t in found if t.key == themes.MORE_KEY)
        wrong += wrong_labels(
            found, {p.id: c for p, c in zip(sample.papers, sample.labels, strict=True)}, known
        )
        total += len(sample.papers)
    return Scores(amis, ks, more / total, wrong / total)


def summary(values: Sequence[float]) -> str:
    return (
        f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} (sd)"
        f"  median {statistics.median(values):.3f}  range {min(values):.3f}-{max(values):.3f}"
    )


def compare(title: str, samples: list[Sample], verbose: bool) -> tuple[float, Scores]:
    mine = score_ours(samples)
    base, _ = score(samples, baseline)
    ratio = statistics.mean(mine.ami) / statistics.mean(base)
    true_k = [s.k for s in samples]
    print(f"{title}: {len(samples)} samples of {SAMPLE_SIZE} papers")
    print(f"  digest themes (picks k)      AMI {summary(mine.ami)}")
    print(f"  TF-IDF + k-means (true k)    AMI {summary(base)}")
    wins = sum(m > b for m, b in zip(mine.ami, base, strict=True))
    print(
        f"  ratio {ratio:.2f}x;  digest beats the baseline on {wins}"
        f"/{len(samples)} samples;  themes per sample {statistics.mean(mine.ks):.1f}"
        f" ({min(mine.ks)}-{max(mine.ks)}), true categories {statistics.mean(true_k):.1f}"
    )
    print(
        f"  catch-all share {mine.catch_all:.1%};  label check (under a pack heading of another"
        f" field) {mine.wrong_label:.1%}"
    )
    if verbose:
        for i, (m, b, k, t) in enumerate(zip(mine.ami, base, mine.ks, true_k, strict=True)):
            print(f"    sample {i:2d}: digest {m:.3f} ({k} themes)  baseline {b:.3f} (k={t})")
    return ratio, mine


def verdict(name: str, ratio: float, mine: Scores, target: float) -> bool:
    ok = ratio >= target and mine.catch_all <= MAX_CATCH_ALL and mine.wrong_label <= MAX_WRONG_LABEL
    print(
        f"target on {name}: AMI >= {target}x the baseline, catch-all <= {MAX_CATCH_ALL:.0%},"
        f" label check <= {MAX_WRONG_LABEL:.0%}: {'meets' if ok else 'misses'} it"
        f" ({ratio:.2f}x, {mine.catch_all:.1%}, {mine.wrong_label:.1%})"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--samples", type=int, default=10, help="samples per data set (default 10)")
    args.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    args.add_argument("--verbose", action="store_true", help="one line per sample")
    opts = args.parse_args(argv)
    missing = [p for p in (DEV, BEYOND) if not p.is_file()]
    if missing:
        print(f"eval: labelled data not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("eval: the baseline needs scikit-learn: pip install -e '.[dev]'", file=sys.stderr)
        return 2

    results = []
    for path, target in ((DEV, TARGET_CS_RATIO), (BEYOND, TARGET_RATIO)):
        papers, labels = load(path)
        ratio, mine = compare(
            f"{path.name} ({len(papers)} papers, {len(set(labels))} categories), 4-7 categories per sample",
            digest_sized(papers, labels, opts.samples, opts.seed),
            opts.verbose,
        )
        results.append((path.name, ratio, mine, target))
    for name, ratio, mine, target in results:
        verdict(name, ratio, mine, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
