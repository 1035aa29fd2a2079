"""Scoring a class's fingerprints: every pair from one matrix product, weighed by the class.

``compare`` builds a submissions x fingerprints incidence matrix (only fingerprints
that two or more submissions hold get a column) and scores every pair at once:

- each fingerprint is weighted by how alike the class is on it: full weight
  while at most ``COMMON`` of the submissions hold it, then less, down to nothing
  for code every submission holds (the maths dictates it);
- a pair's score is its matched weight over the smaller of the two submissions,
  but never over less than ``FLOOR`` times the class's median submission, so a
  partial submission does not rank high because a few common lines are most of
  its code.

``ranked_pairs`` lists the pairs, ``shared_lines`` and ``matched_cells`` say where
two submissions share code, ``default_threshold`` where the class's pairs end and
an outlier begins. Pure functions of ``similarity.winnowing.Code`` and numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradkit_autograder.similarity.winnowing import K, Code

COMMON = 0.5     # a fingerprint in more than this share of the class weighs less (nothing when all have it)
FLOOR = 0.5      # a score divides by at least this share of the class's median submission


@dataclass
class Comparison:
    """Every pair's matched weight and sizes, from one incidence matrix."""

    codes: list[Code]
    weights: np.ndarray        # per fingerprint of the vocabulary
    matched: np.ndarray        # [a, b]: weight of the fingerprints a and b share
    size: np.ndarray           # [a]: weight of a's fingerprints
    matched_tokens: np.ndarray  # [a, b]: tokens of a covered by fingerprints shared with b
    floor: float               # half the class's median size: the least a score divides by
    vocabulary: np.ndarray     # the fingerprints two or more submissions hold, sorted
    present: np.ndarray        # [a, f]: 1 where submission a holds fingerprint f

    def score(self, a: int, b: int) -> float:
        return min(1.0, float(self.matched[a, b] / max(min(self.size[a], self.size[b]), self.floor, 1e-12)))

    def share(self, a: int, b: int) -> float:
        """How much of a's code (by weight) is also in b's."""
        return min(1.0, float(self.matched[a, b] / self.size[a])) if self.size[a] > 0 else 0.0


def owned_tokens(code: Code, k: int = K) -> np.ndarray:
    """Tokens each fingerprint stands for: up to the next fingerprint, at most k."""
    if not len(code.starts):
        return np.zeros(0, dtype=np.float32)
    gaps = np.diff(np.append(code.starts, code.starts[-1] + k))
    return np.minimum(gaps, k).astype(np.float32)


def weight(df: np.ndarray, n: int) -> np.ndarray:
    """A fingerprint's weight from how many of the n submissions hold it (see the module's doc)."""
    return np.clip((1 - df / n) / (1 - COMMON), 0, 1).astype(np.float32)


def columns(vocabulary: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each hash's column in the sorted vocabulary, and whether it is there at all."""
    cols = np.minimum(np.searchsorted(vocabulary, hashes), max(len(vocabulary) - 1, 0))
    found = vocabulary[cols] == hashes if len(vocabulary) else np.zeros(len(hashes), dtype=bool)
    return cols, found


def compare(codes: list[Code], counted: list[int] | None = None, k: int = K) -> Comparison:
    """All pairs at once: a submissions x fingerprints matrix and two matrix products.

    Only fingerprints that two or more submissions hold get a column: the others
    count in a submission's size but can match nothing. ``counted`` are the
    submissions whose sizes set the floor (default: all).
    """
    n = len(codes)
    hashes, df = np.unique(np.concatenate([np.unique(c.hashes) for c in codes] + [np.zeros(0, np.uint64)]),
                           return_counts=True)
    vocabulary, weights = hashes[df > 1], weight(df[df > 1], n)
    size = np.zeros(n, dtype=np.float32)
    present = np.zeros((n, len(vocabulary)), dtype=np.float32)
    owned = np.zeros_like(present)
    for row, code in enumerate(codes):
        size[row] = weight(df[np.searchsorted(hashes, np.unique(code.hashes))], n).sum()
        cols, found = columns(vocabulary, code.hashes)
        present[row, cols[found]] = 1.0
        np.add.at(owned[row], cols[found], owned_tokens(code, k)[found])
    matched = (present * weights) @ present.T
    matched_tokens = owned @ (present * (weights > 0)).T
    sizes = size[counted] if counted else size
    floor = FLOOR * float(np.median(sizes)) if len(sizes) else 0.0
    return Comparison(codes, weights, matched, size, matched_tokens, floor, vocabulary, present)


def shared_starts(cmp: Comparison, a: int, b: int) -> np.ndarray:
    """Token positions in a where a fingerprint a shares with b (weight > 0) starts."""
    code, other = cmp.codes[a], cmp.codes[b]
    common = np.intersect1d(code.hashes, other.hashes)
    common = common[cmp.weights[np.searchsorted(cmp.vocabulary, common)] > 0]
    return code.starts[np.isin(code.hashes, common)]


def shared_lines(cmp: Comparison, a: int, b: int, k: int = K) -> set[tuple[int, int]]:
    """(cell index, line) of a's code covered by fingerprints that a and b share."""
    code = cmp.codes[a]
    covered = np.zeros(code.tokens + k, dtype=np.int32)
    starts = shared_starts(cmp, a, b)
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + k, -1)
    tokens = np.flatnonzero(np.cumsum(covered)[:code.tokens] > 0)
    return set(zip(code.token_cell[tokens].tolist(), code.token_line[tokens].tolist()))


def matched_cells(cmp: Comparison, a: int, others: list[int]) -> list[list[str]]:
    """For each b in ``others``: labels of a's cells where code shared with b starts, in order."""
    code = cmp.codes[a]
    cols, found = columns(cmp.vocabulary, code.hashes)
    cols, cells_of = cols[found], code.token_cell[code.starts[found]]
    cell_hits = np.zeros((len(cols), len(code.cells)), dtype=np.float32)
    cell_hits[np.arange(len(cols)), cells_of] = cmp.weights[cols] > 0
    shared = cmp.present[others][:, cols] @ cell_hits > 0
    return [[code.cells[c][0] for c in np.flatnonzero(row)] for row in shared]


@dataclass
class Pair:
    a: str
    b: str
    score: float
    share_a: float      # of a's code, the share also in b
    share_b: float
    tokens_a: int       # a's tokens in shared code
    tokens_b: int
    ia: int
    ib: int


def ranked_pairs(cmp: Comparison, current: set[int]) -> list[Pair]:
    """Every pair with at least one current student, highest score first."""
    pairs = []
    n = len(cmp.codes)
    for a in range(n):
        for b in range(a + 1, n):
            if (a in current or b in current) and cmp.matched[a, b] > 0:
                pairs.append(Pair(cmp.codes[a].owner, cmp.codes[b].owner, cmp.score(a, b), cmp.share(a, b),
                                  cmp.share(b, a), int(round(cmp.matched_tokens[a, b])),
                                  int(round(cmp.matched_tokens[b, a])), a, b))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def all_pair_scores(cmp: Comparison, current: set[int]) -> np.ndarray:
    """Scores of every pair with a current student (zeros included), for the distribution plot."""
    n = len(cmp.codes)
    denom = np.maximum(np.minimum.outer(cmp.size, cmp.size), max(cmp.floor, 1e-12))
    scores = np.minimum(cmp.matched / denom, 1.0)
    a, b = np.triu_indices(n, 1)
    keep = np.isin(a, list(current)) | np.isin(b, list(current))
    return scores[a[keep], b[keep]]


def default_threshold(scores: np.ndarray) -> float:
    """Far above the class: the median pair plus 6 median absolute deviations, within [0.3, 0.9].

    Honest pairs crowd around the median; a shared solution sits alone above them.
    A pair above 0.9 is always shown (in a class too small for the statistics).
    """
    if not len(scores):
        return 0.3
    median = float(np.median(scores))
    return min(0.9, max(0.3, median + 6 * float(np.median(np.abs(scores - median)))))
