"""RouterBench's kNN router: the nearest training prompts vote on each model's quality.

Prompts are embedded with TF-IDF (word unigrams and bigrams, sublinear term frequency) and
compared by cosine similarity. A model's predicted quality on a prompt is its mean recorded
quality on the ``k`` nearest training prompts; the router picks the model maximising
``willingness_to_pay × predicted quality − expected cost``, as RouterBench's ``KNNRouter``
does. ``k`` is chosen on a validation fifth of the training rows, by the caller's criterion
(the lowest Brier score of the predicted qualities unless told otherwise), then the router is
refit on all training rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors

__all__ = ["K_CANDIDATES", "KNNRouter"]

K_CANDIDATES = (5, 10, 20, 40, 80, 160, 320)

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]

Criterion = Callable[[FloatArray, IndexArray], float]
"""``criterion(predicted, rows)``: how good the predictions for validation ``rows`` are
(higher is better)."""


class KNNRouter:
    """Fit on training prompts and their per-model qualities; predict and route new prompts."""

    def __init__(self, k: int) -> None:
        self.k = k
        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self._index = NearestNeighbors(metric="cosine", algorithm="brute")
        self._quality: FloatArray = np.zeros((0, 0))

    def fit(self, prompts: Sequence[str], quality: FloatArray) -> KNNRouter:
        """``quality[i, m]`` is model ``m``'s recorded quality on ``prompts[i]``."""
        # Terms seen once say nothing about neighbours; a tiny folder keeps them all.
        self._vectorizer.set_params(min_df=2 if len(prompts) >= 20 else 1)
        vectors = self._vectorizer.fit_transform(prompts)
        self._index.fit(vectors)
        self._quality = np.asarray(quality, dtype=float)
        self.k = min(self.k, len(prompts))
        return self

    def predict(self, prompts: Sequence[str]) -> FloatArray:
        """Predicted quality, one row per prompt and one column per model."""
        vectors = self._vectorizer.transform(prompts)
        _, neighbours = self._index.kneighbors(vectors, n_neighbors=self.k)
        return np.asarray(self._quality[neighbours].mean(axis=1), dtype=float)

    @staticmethod
    def route(
        predicted: FloatArray, cost: FloatArray, willingness_to_pay: float
    ) -> npt.NDArray[np.int64]:
        """The chosen model per prompt; ties go to the cheaper model."""
        score = willingness_to_pay * predicted - cost[None, :]
        # Stable ordering by cost first makes argmax pick the cheapest among equal scores.
        by_cost = np.argsort(cost, kind="stable")
        return np.asarray(by_cost[np.argmax(score[:, by_cost], axis=1)], dtype=np.int64)

    @classmethod
    def tuned(
        cls,
        prompts: Sequence[str],
        quality: FloatArray,
        *,
        seed: int,
        candidates: Sequence[int] = K_CANDIDATES,
        criterion: Criterion | None = None,
    ) -> tuple[KNNRouter, dict[int, float]]:
        """A router whose ``k`` scores best on the validation rows, refit on every row; also
        each candidate's score. The default criterion is minus the Brier score."""
        quality = np.asarray(quality, dtype=float)

        def brier(predicted: FloatArray, rows: IndexArray) -> float:
            return -float(np.mean((predicted - quality[rows]) ** 2))

        judge = criterion or brier
        order = np.random.default_rng(seed).permutation(len(prompts))
        cut = max(1, len(prompts) // 5)
        valid, train = order[:cut], order[cut:]
        scores: dict[int, float] = {}
        for k in candidates:
            if k > len(train):
                continue
            router = cls(k).fit([prompts[i] for i in train], quality[train])
            predicted = router.predict([prompts[i] for i in valid])
            scores[k] = judge(predicted, valid)
        best = max(scores, key=lambda k: (scores[k], -k)) if scores else 1
        return cls(best).fit(prompts, quality), scores
