"""Bag-of-words vectors of short texts on sparse matrices: TF-IDF, cosine neighbours, clusters.

Pure (no I/O). numpy and scipy load with this module: import it on first use, not at start-up,
so `import digest` and `digest --help` stay fast.

    v = tfidf([{"diffusion": 3.0, "diffusion model": 1.0}, ...])   # one weighted bag per text
    graph = neighbours(v.matrix, 10)                               # symmetric cosine kNN graph
    labels = spectral_clusters(graph, max_k=7)                     # one cluster per text
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

# Rows of the similarity matrix computed at once: bounds memory to BLOCK x n floats.
BLOCK = 512


@dataclass(frozen=True)
class Vectors:
    """Unit-length TF-IDF rows, one per text, over the terms found in `min_df` texts or more."""

    matrix: sparse.csr_matrix
    terms: list[str]


def tfidf(bags: Sequence[Mapping[str, float]], *, min_df: int = 2) -> Vectors:
    """Sublinear tf (1 + log count) times smooth idf (log((1 + n) / (1 + df)) + 1), rows scaled
    to unit length; a text with no kept term is a zero row."""
    n = len(bags)
    df: dict[str, int] = {}
    for bag in bags:
        for term in bag:
            df[term] = df.get(term, 0) + 1
    kept = sorted(t for t, d in df.items() if d >= min_df)
    column = {t: j for j, t in enumerate(kept)}
    rows: list[int] = []
    cols: list[int] = []
    counts: list[float] = []
    for i, bag in enumerate(bags):
        for term, count in bag.items():
            j = column.get(term)
            if j is not None and count > 0:
                rows.append(i)
                cols.append(j)
                counts.append(count)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in kept])
    c = np.asarray(counts, dtype=float)
    values = (1 + np.log(np.maximum(c, 1e-12))) * idf[np.asarray(cols, dtype=np.int64)] if counts else c
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(n, len(kept)))
    return Vectors(unit_rows(matrix), kept)


def unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1 / norms) @ matrix)


def neighbours(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """The symmetric k-nearest-neighbour graph of unit rows, weighted by cosine similarity:
    an edge where either text is among the other's k most similar (never itself). Computed
    BLOCK rows at a time, so a day of 10,000 papers needs no n x n matrix."""
    n = matrix.shape[0]
    k = max(1, min(k, n - 1))
    transposed = matrix.T.tocsc()
    rows, cols, vals = [], [], []
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        sims = (matrix[start:stop] @ transposed).toarray()
        sims[np.arange(stop - start), np.arange(start, stop)] = -1.0
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.take_along_axis(sims, top, axis=1)
        keep = weights > 0
        rows.append(np.repeat(np.arange(start, stop), k)[keep.ravel()])
        cols.append(top.ravel()[keep.ravel()])
        vals.append(weights.ravel()[keep.ravel()])
    graph = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return graph.maximum(graph.T).tocsr()


def spectral_embedding(graph: sparse.csr_matrix, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """The leading eigenvalues (descending) and eigenvectors of D^-1/2 A D^-1/2."""
    n = graph.shape[0]
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = 1 / np.sqrt(np.where(degree > 0, degree, 1.0))
    normalised = sparse.diags(scale) @ graph @ sparse.diags(scale)
    dims = min(dims, n - 1)
    if n <= 100:
        values, vectors = np.linalg.eigh(normalised.toarray())
        order = np.argsort(-values)[:dims]
    else:
        from scipy.sparse import linalg as sparse_linalg  # 0.1 s to import: only for days over 100 papers

        start = np.full(n, 1 / math.sqrt(n))  # a fixed start: the same answer every run
        values, vectors = sparse_linalg.eigsh(normalised, k=dims, which="LA", v0=start, tol=1e-6)
        order = np.argsort(-values)
    return values[order], vectors[:, order]


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, restarts: int = 8, rounds: int = 60) -> np.ndarray:
    """Lloyd's k-means from k-means++ starts; the restart with the least inertia wins."""
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    best, best_inertia = np.zeros(n, dtype=int), math.inf
    for _ in range(restarts):
        centres = points[[rng.integers(n)]]
        for _ in range(1, k):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).min(axis=1)
            total = d2.sum()
            pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centres = np.vstack([centres, points[pick]])
        labels = np.zeros(n, dtype=int)
        for r in range(rounds):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            new = d2.argmin(axis=1)
            if r and np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                members = points[labels == c]
                if len(members):
                    centres[c] = members.mean(axis=0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def spectral_clusters(graph: sparse.csr_matrix, *, max_k: int, min_k: int = 2, seed: int = 0) -> np.ndarray:
    """Spectral clustering (Ng, Jordan and Weiss) with the number of clusters chosen from the
    data: the largest gap between consecutive eigenvalues of the normalised graph, between
    `min_k` and `max_k` clusters."""
    n = graph.shape[0]
    if n <= min_k:
        return np.arange(n)
    values, vectors = spectral_embedding(graph, max_k + 1)
    ks = range(min_k, min(max_k, len(values) - 1) + 1)
    k = max(ks, key=lambda k: values[k - 1] - values[k], default=min_k)
    points = vectors[:, :k]
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    points = points / np.where(norms > 0, norms, 1.0)
    return kmeans(points, k, seed=seed)
