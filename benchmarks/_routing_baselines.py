"""The routing benchmark's supervised baselines, routed per source dataset as a user deploys:
per-task routers on three embeddings, and a FrugalGPT-style cascade that reads the answers.

Every router here predicts each model's P(correct) on a test prompt from the train split of
the same dataset (``eval_name``), then routes as the kNN router does (``willingness to pay ×
P − cost``, or the cheapest model predicted to reach a floor):

* **one-hot**: the dataset alone (a model's train accuracy on that dataset, i.e. logistic
  regression on a one-hot of the dataset);
* **logistic** on TF-IDF (word 1–2 grams) and on the sentence encoder's embedding;
* **kNN** (k = 20, cosine) and a small **MLP** on the embedding.

Prompts of one dataset open with the same few-shot block, so what is embedded is each prompt's
last :data:`TAIL` characters: the question itself.

The **cascade** (FrugalGPT, Chen et al. 2023) asks the models of a chain from the cheapest
up, paying for each, and accepts an answer once a scorer trained on the train split
(logistic regression on the TF-IDF of the prompt's tail and the answer, with the dataset)
says it is right with probability ≥ τ; the last model's answer is always accepted. The
**agreement** cascade accepts the cheapest model's answer when the second cheapest gives the
same one (no scorer at all), else asks the last.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPClassifier

from atomic.models import RouterBenchRow

__all__ = ["TAIL", "cascade_families", "per_task_families"]

TAIL = 600
Matrix = npt.NDArray[np.float64]
Encode = Callable[[Sequence[str]], Matrix]


def _tail(row: RouterBenchRow) -> str:
    return row.prompt[-TAIL:]


def _vectorizer(rows: int) -> TfidfVectorizer:
    # Terms seen once say nothing of other prompts; a tiny folder keeps them all.
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2 if rows >= 20 else 1)


def _groups(rows: Sequence[RouterBenchRow]) -> dict[str, npt.NDArray[np.int64]]:
    names = sorted({r.eval_name for r in rows})
    return {n: np.array([i for i, r in enumerate(rows) if r.eval_name == n]) for n in names}


def _per_model(
    fit_predict: Callable[[Any, npt.NDArray[np.float64], Any], npt.NDArray[np.float64]],
    x_train: Any,
    y_train: Matrix,
    x_test: Any,
) -> Matrix:
    """P(correct) per model: a model always right (or always wrong) on the train rows is
    predicted so; the others by ``fit_predict``."""
    out = np.zeros((x_test.shape[0], y_train.shape[1]))
    for m in range(y_train.shape[1]):
        labels = (y_train[:, m] >= 0.5).astype(float)
        if labels.min() == labels.max():
            out[:, m] = labels[0]
        else:
            out[:, m] = fit_predict(x_train, labels, x_test)
    return out


def _logistic(x: Any, y: npt.NDArray[np.float64], z: Any) -> npt.NDArray[np.float64]:
    model = LogisticRegression(C=1.0, max_iter=2000)
    return np.asarray(model.fit(x, y).predict_proba(z)[:, 1], dtype=float)


def _predict_family(
    kind: str,
    train_rows: Sequence[RouterBenchRow],
    test_rows: Sequence[RouterBenchRow],
    train_q: Matrix,
    embed: dict[str, Matrix],
    seed: int,
) -> Matrix:
    predicted = np.zeros((len(test_rows), train_q.shape[1]))
    train_groups = _groups(train_rows)
    for name, test_idx in _groups(test_rows).items():
        idx = train_groups.get(name)
        if idx is None or len(idx) == 0:  # a dataset the train split lacks: overall means
            predicted[test_idx] = train_q.mean(axis=0)
            continue
        y = train_q[idx]
        if kind == "one-hot":
            predicted[test_idx] = y.mean(axis=0)
        elif kind == "logistic TF-IDF":
            vectorizer = _vectorizer(len(idx))
            x = vectorizer.fit_transform([_tail(train_rows[i]) for i in idx])
            z = vectorizer.transform([_tail(test_rows[i]) for i in test_idx])
            predicted[test_idx] = _per_model(_logistic, x, y, z)
        elif kind == "logistic encoder":
            x, z = embed["train"][idx], embed["test"][test_idx]
            predicted[test_idx] = _per_model(_logistic, x, y, z)
        elif kind == "kNN encoder":
            k = min(20, len(idx))
            index = NearestNeighbors(metric="cosine", algorithm="brute").fit(embed["train"][idx])
            _, near = index.kneighbors(embed["test"][test_idx], n_neighbors=k)
            predicted[test_idx] = y[near].mean(axis=1)
        elif kind == "MLP encoder":
            labels = (y >= 0.5).astype(int)
            mlp = MLPClassifier(
                hidden_layer_sizes=(64,), alpha=1e-3, max_iter=200, random_state=seed
            )
            with warnings.catch_warnings():
                # A few hundred rows per dataset: whether the optimiser converged is not
                # what is compared, the routes are.
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(embed["train"][idx], labels)
            probabilities = np.asarray(mlp.predict_proba(embed["test"][test_idx]), dtype=float)
            predicted[test_idx] = probabilities.reshape(len(test_idx), -1)
        else:
            raise ValueError(kind)
    return predicted


def per_task_families(
    train_rows: Sequence[RouterBenchRow],
    test_rows: Sequence[RouterBenchRow],
    names: Sequence[str],
    q: Matrix,
    c: Matrix,
    train_cost: Matrix,
    *,
    choices: Callable[[Matrix], list[tuple[str, npt.NDArray[np.int64]]]],
    encode: Encode,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each per-task router's frontier over the configurations ``choices`` makes of its
    predictions (the kNN router's sweep)."""
    train_q = np.array([[r.quality[m] for m in names] for r in train_rows])
    embed = {
        "train": encode([_tail(r) for r in train_rows]),
        "test": encode([_tail(r) for r in test_rows]),
    }
    rows = np.arange(len(q))
    families: dict[str, dict[str, Any]] = {}
    for kind in ("one-hot", "logistic TF-IDF", "logistic encoder", "kNN encoder", "MLP encoder"):
        predicted = _predict_family(kind, train_rows, test_rows, train_q, embed, seed)
        families[f"per-task {kind}"] = {
            "configs": [
                {
                    "config": config,
                    "cost_usd": float(c[rows, chosen].mean()),
                    "accuracy": float(q[rows, chosen].mean()),
                }
                for config, chosen in choices(predicted)
            ]
        }
    return families


def _chain(train_rows: Sequence[RouterBenchRow], names: Sequence[str]) -> list[int]:
    """Three models of the train split's cost–accuracy frontier: the cheapest on it, the best,
    and the one between with the best accuracy per dollar."""
    acc = np.array([np.mean([r.quality[m] for r in train_rows]) for m in names])
    cost = np.array([np.mean([r.cost[m] for r in train_rows]) for m in names])
    order = np.argsort(cost)
    frontier: list[int] = []
    for j in order:
        if not frontier or acc[j] > acc[frontier[-1]]:
            frontier.append(int(j))
    if len(frontier) <= 3:
        return frontier
    first, last = frontier[0], frontier[-1]
    middle = max(frontier[1:-1], key=lambda j: (acc[j] - acc[first]) / (cost[j] - cost[first]))
    return [first, middle, last]


def _answer(text: str) -> str:
    return " ".join(text.lower().split())[:200]


def cascade_families(
    train_rows: Sequence[RouterBenchRow],
    test_rows: Sequence[RouterBenchRow],
    names: Sequence[str],
    q: Matrix,
    c: Matrix,
    *,
    thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98),
) -> dict[str, dict[str, Any]]:
    """The FrugalGPT-style cascade over ``thresholds``, and the agreement cascade."""
    chain = _chain(train_rows, names)
    datasets = sorted({r.eval_name for r in (*train_rows, *test_rows)})

    def features(rows: Sequence[RouterBenchRow], m: int, vectorizer: TfidfVectorizer) -> Any:
        texts = [_tail(r) + " \n#answer# " + r.response[names[m]][:2000] for r in rows]
        onehot = np.array([[r.eval_name == d for d in datasets] for r in rows], dtype=float)
        return sparse.hstack([vectorizer.transform(texts), sparse.csr_matrix(onehot)]).tocsr()

    scores = np.ones((len(test_rows), len(chain)))
    for position, m in enumerate(chain[:-1]):
        labels = np.array([r.quality[names[m]] >= 0.5 for r in train_rows], dtype=float)
        if labels.min() == labels.max():  # always right (or wrong) on the train split
            scores[:, position] = labels[0]
            continue
        vectorizer = _vectorizer(len(train_rows))
        vectorizer.fit([_tail(r) + " " + r.response[names[m]][:2000] for r in train_rows])
        scorer = LogisticRegression(C=1.0, max_iter=2000)
        scorer.fit(features(train_rows, m, vectorizer), labels)
        scores[:, position] = scorer.predict_proba(features(test_rows, m, vectorizer))[:, 1]

    configs = []
    for tau in thresholds:
        quality, cost = np.zeros(len(test_rows)), np.zeros(len(test_rows))
        for i in range(len(test_rows)):
            for position, m in enumerate(chain):
                cost[i] += c[i, m]
                if position == len(chain) - 1 or scores[i, position] >= tau:
                    quality[i] = q[i, m]
                    break
        configs.append(
            {
                "config": f"τ={tau:g}",
                "cost_usd": float(cost.mean()),
                "accuracy": float(quality.mean()),
            }
        )

    first, second, last = chain[0], chain[1 % len(chain)], chain[-1]
    quality, cost = np.zeros(len(test_rows)), np.zeros(len(test_rows))
    for i, row in enumerate(test_rows):
        cost[i] = c[i, first] + c[i, second]
        if _answer(row.response[names[first]]) == _answer(row.response[names[second]]):
            quality[i] = q[i, first]
        else:
            cost[i] += c[i, last]
            quality[i] = q[i, last]
    chain_names = " → ".join(names[m] for m in chain)
    return {
        "FrugalGPT cascade": {"chain": chain_names, "configs": configs},
        "agreement cascade": {
            "chain": f"{names[first]} = {names[second]}, else {names[last]}",
            "configs": [
                {
                    "config": "agree",
                    "cost_usd": float(cost.mean()),
                    "accuracy": float(quality.mean()),
                }
            ],
        },
    }
