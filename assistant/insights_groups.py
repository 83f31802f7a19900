"""Athletes' questions grouped into topics by their vectors (numpy only): the grouping `aq-coach insights` runs.

Each question is a point: its MiniLM vector (unit length), beside its *facets*, what the question plan
said it is about: the not-covered topics it names (the doctrine's), its main AQ term (the glossary's),
and its subject when the plan saw one (the doctrine, a feeling, training). The facets are a one-hot
block, scaled by `facet_weight`, so two questions naming the same not-covered topic, however phrased,
are close, and a question about what a word means stays apart from one, in the same words, about the
doctrine. Cosine is taken over the whole row.

Grouping (the "community detection" of sentence-transformers, then centroid refinement):

1. every question's neighbours: the questions at least `threshold` cosine from it (in blocks, never an
   n×n matrix at once);
2. the question with the most neighbours starts a topic with its unassigned neighbours; then the next
   unassigned one with the most, and so on (a question no other is near is a topic of its own);
3. a few rounds of refinement: each question moves to the topic whose centroid is nearest, when that
   is at least `threshold` cosine (else it stays).

Deterministic: the same rows in the same order give the same topics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_BLOCK = 2048     # rows per block of dot products: 2048 × 10,000 float32 is 80 MB at most
_ROUNDS = 3


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def facet_rows(vectors: np.ndarray, facets: Sequence[Sequence[str]], facet_weight: float) -> np.ndarray:
    """The rows grouped: each question's unit vector beside its facets' one-hot block (unit length,
    times facet_weight), the whole row at unit length."""
    vectors = unit_rows(vectors)
    names = sorted({f for fs in facets for f in fs})
    if not names or facet_weight <= 0:
        return vectors
    column = {name: n for n, name in enumerate(names)}
    block = np.zeros((len(vectors), len(names)), dtype=np.float32)
    for row, fs in enumerate(facets):
        for f in set(fs):
            block[row, column[f]] = 1.0
    return unit_rows(np.hstack([vectors, facet_weight * unit_rows(block)]))


def neighbour_counts(rows: np.ndarray, threshold: float) -> np.ndarray:
    """How many rows (itself included) are at least `threshold` cosine from each row."""
    counts = np.zeros(len(rows), dtype=np.int64)
    for start in range(0, len(rows), _BLOCK):
        counts[start:start + _BLOCK] = (rows[start:start + _BLOCK] @ rows.T >= threshold).sum(axis=1)
    return counts


def _seed_groups(rows: np.ndarray, threshold: float) -> np.ndarray:
    """Step 2: topics started by the questions with the most neighbours."""
    counts = neighbour_counts(rows, threshold)
    label = np.full(len(rows), -1, dtype=np.int64)
    next_label = 0
    for seed in np.argsort(-counts, kind="stable"):
        if label[seed] >= 0:
            continue
        if counts[seed] > 1:
            free = np.flatnonzero(label < 0)
            label[free[rows[free] @ rows[seed] >= threshold]] = next_label
        label[seed] = next_label
        next_label += 1
    return label


def _centroids(rows: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labels of topics with at least two questions, and their centroids (unit length)."""
    order = np.argsort(label, kind="stable")
    names, starts, sizes = np.unique(label[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(rows[order], starts, axis=0) if len(starts) else np.zeros((0, rows.shape[1]), np.float32)
    many = sizes > 1
    return names[many], unit_rows(sums[many])


def _refine(rows: np.ndarray, label: np.ndarray, threshold: float) -> np.ndarray:
    """Step 3: each question to its nearest centroid, when that is at least `threshold` cosine. A topic
    of one question attracts nobody: no other question was that close to it."""
    for _ in range(_ROUNDS):
        names, centroids = _centroids(rows, label)
        if not len(names):
            break
        moved = label.copy()
        for start in range(0, len(rows), _BLOCK):
            sims = rows[start:start + _BLOCK] @ centroids.T
            best = sims.argmax(axis=1)
            close = sims[np.arange(len(best)), best] >= threshold
            moved[start:start + _BLOCK][close] = names[best[close]]
        if np.array_equal(moved, label):
            break
        label = moved
    return label


def group(rows: np.ndarray, threshold: float) -> np.ndarray:
    """Topic labels 0..k-1 for the rows (unit length), numbered by their first question."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    label = _refine(rows, _seed_groups(rows, threshold), threshold)
    _, first = np.unique(label, return_index=True)
    order = {int(label[i]): n for n, i in enumerate(sorted(first))}
    return np.array([order[int(x)] for x in label], dtype=np.int64)


def central(rows: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The members ordered from the most central (nearest their centroid) outwards."""
    centroid = unit_rows(rows[members].sum(axis=0, keepdims=True))[0]
    return members[np.argsort(-(rows[members] @ centroid), kind="stable")]
