"""`make eval` on a smaller scale: the grouping must keep beating the usual baseline."""

import statistics

import pytest

from .conftest import SHARED


def test_themes_beat_tfidf_kmeans_given_the_true_k_by_the_target_margin(shared_fixtures, capsys):
    pytest.importorskip("sklearn", reason="the baseline needs scikit-learn (pip install -e '.[dev]')")
    from eval import themes as evaluation

    papers, labels = evaluation.load(SHARED / "labeled" / "arxiv_labeled_dev.jsonl")
    samples = evaluation.digest_sized(papers, labels, 10, seed0=100)  # not the seeds `make eval` prints
    ours, ks = evaluation.score(samples, evaluation.ours)
    baseline, _ = evaluation.score(samples, evaluation.baseline)
    assert statistics.mean(ours) >= evaluation.TARGET_RATIO * statistics.mean(baseline)
    assert all(2 <= k <= 8 for k in ks)  # digest chose the number of themes itself


def test_make_eval_prints_both_methods_side_by_side_and_the_verdict(shared_fixtures, capsys):
    pytest.importorskip("sklearn", reason="the baseline needs scikit-learn (pip install -e '.[dev]')")
    from eval import themes as evaluation

    assert evaluation.main(["--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("digest themes (picks k)") == 2 and out.count("TF-IDF + k-means (true k)") == 2
    assert out.count("catch-all share") == 2 and out.count("label check") >= 2
    assert "target on arxiv_labeled_dev.jsonl: AMI >= 1.6x the baseline" in out
    assert "target on arxiv_beyond_cs_dev.jsonl: AMI >= 1.3x the baseline" in out
