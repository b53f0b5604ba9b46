"""digest.issue.vectors: TF-IDF rows, the neighbour graph and spectral clusters on sparse matrices."""

import numpy as np

from digest.issue import vectors


def test_tfidf_rows_are_unit_length_over_terms_two_texts_share():
    v = vectors.tfidf([{"a": 2.0, "b": 1.0, "only": 5.0}, {"a": 1.0, "b": 3.0}, {"c": 1.0}])
    assert v.terms == ["a", "b"]
    norms = np.sqrt(np.asarray(v.matrix.multiply(v.matrix).sum(axis=1)).ravel())
    assert np.allclose(norms, [1.0, 1.0, 0.0])


def test_neighbour_graph_is_symmetric_without_self_links_and_built_in_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    bags = [{f"t{j}": 1.0 for j in rng.choice(30, 6, replace=False)} for _ in range(50)]
    matrix = vectors.tfidf(bags).matrix
    whole = vectors.neighbours(matrix, 5)
    monkeypatch.setattr(vectors, "BLOCK", 7)  # the same graph when computed 7 rows at a time
    blocked = vectors.neighbours(matrix, 5)
    assert (whole != whole.T).nnz == 0 and whole.diagonal().sum() == 0
    assert (whole != blocked).nnz == 0


def test_spectral_clusters_find_the_number_of_groups_the_data_has():
    bags = [{f"{g}{j}": 1.0 for j in range(6) if (i + j) % 4} for g in "abc" for i in range(8)]
    graph = vectors.neighbours(vectors.tfidf(bags).matrix, 5)
    labels = vectors.spectral_clusters(graph, max_k=6)
    assert len(set(labels)) == 3
    assert all(len(set(labels[k * 8 : (k + 1) * 8])) == 1 for k in range(3))
