"""A cheap text classifier learned from a label task's memory, with calibrated confidence.

TF-IDF (word 1–2-grams and character 2–5-grams) into a multinomial logistic regression: on
Banking77 it reaches the accuracy of the literature's CPU baselines and predicts in about a
millisecond. Its raw probabilities are spread over many labels, so they are recalibrated
(Platt scaling) on predict-then-learn pairs: each labelled input is first predicted, then
learned from, so every pair is a held-out judgement. Those pairs are also its held-out
accuracy.

With a sentence encoder (:mod:`atomic.encoders`) the input's embedding is added to the TF-IDF
columns: on Banking77 with 10 examples per intent that takes accuracy from 75 % to 85 % (the
embedding alone: 85 %; ``benchmarks/encoders.py``). A classifier records the encoder it was
trained with, and one saved with another encoder (or none) is refused at load, so it is
retrained from memory.

A trained classifier is saved (:meth:`TextClassifier.dump`, a blob that cannot run code on
load) and loaded at start-up instead of being retrained. Loading only parses the arrays:
scikit-learn, a second to import, is imported when the classifier first predicts or trains.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from atomic.adaptation._classifier_blob import (
    EncoderUsed,
    FeaturePart,
    SavedClassifier,
    read_blob,
    write_blob,
)
from atomic.errors import StorageError

if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from atomic.encoders import SyncEncoder

__all__ = ["Prediction", "TextClassifier"]

_PAIRS_KEPT = 1000
_CALIBRATE_AFTER = 30
_GROWTH_BEFORE_REFIT = 0.1


@dataclass(frozen=True)
class Prediction:
    label: str
    raw: float
    """The classifier's own probability of ``label``."""
    confidence: float
    """``raw`` recalibrated: the estimated P(the label is right)."""


_PARTS: dict[str, dict[str, Any]] = {
    "words": {"ngram_range": (1, 2), "sublinear_tf": True},
    "chars": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2},
}
_MODEL: dict[str, Any] = {"C": 20.0, "max_iter": 300}
# Embeddings are unit vectors; TF-IDF rows are unit vectors per part. This weight on the
# embedding columns measured best on Banking77 (benchmarks/encoders.py).
_EMBEDDING_WEIGHT = 2.0
# The vectoriser parameters a saved classifier records and a load may set: plain values only
# (a tokenizer or preprocessor would be code).
_PARAMS_KEPT = frozenset(
    {"analyzer", "ngram_range", "sublinear_tf", "min_df", "max_df", "lowercase", "norm"}
    | {"smooth_idf", "use_idf", "token_pattern", "strip_accents", "binary", "max_features"}
)


class _Features:
    """TF-IDF parts side by side, then the encoder's embedding if there is one (what
    scikit-learn's ``FeatureUnion`` does, kept small so a saved classifier rebuilds exactly
    the columns it was trained on)."""

    def __init__(
        self,
        parts: list[tuple[str, TfidfVectorizer]],
        encoder: SyncEncoder | None = None,
        weight: float = _EMBEDDING_WEIGHT,
    ) -> None:
        self.parts = parts
        self.encoder = encoder
        self.weight = weight

    def fit_transform(self, texts: list[str]) -> sp.csr_matrix:
        return self._stack([v.fit_transform(texts) for _, v in self.parts], texts)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        return self._stack([v.transform(texts) for _, v in self.parts], texts)

    def _stack(self, blocks: list[Any], texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp

        if self.encoder is not None:
            blocks.append(sp.csr_matrix(self.encoder.encode_sync(texts) * self.weight))
        return sp.hstack(blocks).tocsr()


def _saved_form(features: _Features, model: LogisticRegression) -> SavedClassifier:
    parts = []
    for name, vectorizer in features.parts:
        terms = [""] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            terms[column] = term
        params = {k: v for k, v in vectorizer.get_params().items() if k in _PARAMS_KEPT}
        parts.append(FeaturePart(name, params, terms, vectorizer.idf_))
    encoder = None
    if features.encoder is not None:
        dim = model.coef_.shape[1] - sum(len(p.terms) for p in parts)
        encoder = EncoderUsed(features.encoder.name, dim, features.weight)
    return SavedClassifier(
        parts=parts,
        classes=[str(c) for c in model.classes_],
        coef=model.coef_,
        intercept=model.intercept_,
        model_params={k: v for k, v in model.get_params().items() if k in ("C", "max_iter")},
        encoder=encoder,
    )


def _rebuilt(
    saved: SavedClassifier, encoder: SyncEncoder | None
) -> tuple[_Features, LogisticRegression]:
    """The fitted vectorisers and model of a saved classifier, as scikit-learn objects
    (``encoder`` is the one it was trained with: :func:`_check_encoder` said so)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    parts = []
    for part in saved.parts:
        params = {k: v for k, v in part.params.items() if k in _PARAMS_KEPT}
        if "ngram_range" in params:
            params["ngram_range"] = tuple(params["ngram_range"])
        vectorizer = TfidfVectorizer(**params)
        vectorizer.vocabulary_ = {term: column for column, term in enumerate(part.terms)}
        vectorizer.idf_ = part.idf
        parts.append((part.name, vectorizer))
    model = LogisticRegression(**saved.model_params)
    model.classes_ = np.array(saved.classes)
    model.coef_ = saved.coef
    model.intercept_ = saved.intercept
    model.n_features_in_ = saved.coef.shape[1]
    weight = saved.encoder.weight if saved.encoder is not None else _EMBEDDING_WEIGHT
    return _Features(parts, encoder, weight), model


def _described(encoder_name: str | None) -> str:
    return "none (TF-IDF alone)" if encoder_name is None else repr(encoder_name)


def _check_encoder(saved: SavedClassifier, encoder: SyncEncoder | None) -> None:
    """Refuse a classifier trained on other features than ``encoder`` gives: its weights
    would be read against the wrong columns."""
    trained_with = saved.encoder.name if saved.encoder is not None else None
    using = encoder.name if encoder is not None else None
    if trained_with == using:
        return
    raise StorageError(
        f"a saved classifier was trained with encoder {_described(trained_with)}, "
        f"but this process uses {_described(using)}",
        hint="it is retrained from memory with this encoder; set ATOMIC_ENCODER as the "
        "process that trained it did to use the saved one instead",
        context={"trained_with": trained_with, "encoder": using},
    )


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class TextClassifier:
    """Learns labels from texts; refits as its training set grows by a tenth.

    >>> clf = TextClassifier(min_examples=2)
    >>> clf.fit(["card lost", "lost my card", "change pin", "new pin please"],
    ...         ["lost", "lost", "pin", "pin"])
    >>> clf.predict("I lost the card").label
    'lost'
    """

    def __init__(
        self, *, min_examples: int = 20, seed: int = 0, encoder: SyncEncoder | None = None
    ) -> None:
        self.min_examples = min_examples
        self.seed = seed
        self.encoder = encoder
        """Adds the input's embedding to the TF-IDF features (``None``: TF-IDF alone)."""
        self.version = 0
        self.trained_on = 0
        self.pairs: deque[tuple[float, bool]] = deque(maxlen=_PAIRS_KEPT)
        self._vectorizer: _Features | None = None
        self._model: LogisticRegression | None = None
        self._saved: SavedClassifier | None = None
        """A loaded classifier whose scikit-learn objects are built on first use."""
        self._platt: tuple[float, float] | None = None
        self._platt_at = 0
        self._cache: tuple[str, Prediction] | None = None

    @property
    def trained(self) -> bool:
        return self._model is not None or self._saved is not None

    def wants_refit(self, examples: int, labels: int) -> bool:
        """Whether a memory of ``examples`` (with ``labels`` distinct labels) warrants a refit."""
        if examples < self.min_examples or labels < 2:
            return False
        grown = examples - self.trained_on
        return not self.trained or grown >= max(1, int(self.trained_on * _GROWTH_BEFORE_REFIT))

    def fit(self, texts: Sequence[str], labels: Sequence[str], *, bump: bool = True) -> None:
        """Train from scratch on ``texts`` (deterministic for the same data and seed);
        ``bump=False`` keeps the version (a refit of the same data after a restart)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = _Features(
            [(name, TfidfVectorizer(**p)) for name, p in _PARTS.items()], self.encoder
        )
        features = vectorizer.fit_transform(list(texts))
        model = LogisticRegression(**_MODEL, random_state=self.seed)
        with warnings.catch_warnings():
            # Early on there are many labels per example; scikit-learn warns that this looks
            # like regression. It is not: the labels are the task's.
            warnings.filterwarnings("ignore", message="The number of unique classes")
            model.fit(features, list(labels))
        self._vectorizer, self._model, self._saved = vectorizer, model, None
        self.trained_on = len(texts)
        self.version += 1 if bump else 0
        self._cache = None

    def dump(self) -> bytes:
        """The trained weights as a blob :meth:`load` reads back (arrays only, no pickle)."""
        if self._saved is not None:
            return write_blob(self._saved)
        if self._model is None or self._vectorizer is None:
            raise ValueError("an untrained classifier has nothing to save")
        return write_blob(_saved_form(self._vectorizer, self._model))

    def load(self, blob: bytes, *, version: int, trained_on: int) -> None:
        """Take the weights of a saved classifier (a :class:`~atomic.errors.StorageError` if
        ``blob`` is not one, or was trained with another encoder), trained on ``trained_on``
        examples; predicts exactly as the classifier that was saved."""
        saved = read_blob(blob)
        _check_encoder(saved, self.encoder)
        self._saved = saved
        self._vectorizer = self._model = None
        self.version = version
        self.trained_on = trained_on
        self._cache = None

    def predict(self, text: str) -> Prediction | None:
        """The most likely label and its confidence; ``None`` until trained."""
        if self._saved is not None:
            self._vectorizer, self._model = _rebuilt(self._saved, self.encoder)
            self._saved = None
        if self._model is None or self._vectorizer is None:
            return None
        if self._cache is not None and self._cache[0] == text:
            return self._cache[1]
        probabilities = self._model.predict_proba(self._vectorizer.transform([text]))[0]
        best = int(np.argmax(probabilities))
        raw = float(probabilities[best])
        prediction = Prediction(str(self._model.classes_[best]), raw, self.calibrate(raw))
        self._cache = (text, prediction)
        return prediction

    def calibrate(self, raw: float) -> float:
        if self._platt is None:
            return raw
        a, b = self._platt
        return 1.0 / (1.0 + math.exp(-(a * _logit(raw) + b)))

    def observe(self, text: str, label: str) -> bool | None:
        """Before learning ``label`` for ``text``: judge the prediction (a held-out pair)."""
        prediction = self.predict(text)
        if prediction is None:
            return None
        correct = prediction.label == label
        self.pairs.append((prediction.raw, correct))
        if len(self.pairs) >= _CALIBRATE_AFTER and len(self.pairs) - self._platt_at >= 10:
            self._recalibrate()
        return correct

    def _recalibrate(self) -> None:
        outcomes = np.array([c for _, c in self.pairs])
        if outcomes.all() or not outcomes.any():
            return
        from sklearn.linear_model import LogisticRegression

        x = np.array([[_logit(r)] for r, _ in self.pairs])
        platt = LogisticRegression(C=100.0).fit(x, outcomes)
        self._platt = (float(platt.coef_[0][0]), float(platt.intercept_[0]))
        self._platt_at = len(self.pairs)
        self._cache = None

    @property
    def evidence(self) -> int:
        """How many held-out judgements back the confidence."""
        return len(self.pairs)

    def heldout_accuracy(self, last: int = 200) -> float | None:
        recent = list(self.pairs)[-last:]
        return sum(c for _, c in recent) / len(recent) if recent else None

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "version": self.version,
            "pairs": [[round(r, 6), c] for r, c in self.pairs],
        }
        if self._platt is not None:
            state["platt"] = [*self._platt, self._platt_at]
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore counters and calibration (the weights are loaded by :meth:`load`)."""
        self.version = int(state.get("version", 0))
        self.pairs.extend((float(r), bool(c)) for r, c in state.get("pairs", []))
        platt = state.get("platt")
        if isinstance(platt, list) and len(platt) == 3:
            # Saved with the pairs: no scikit-learn import, nor a refit, to get it back.
            self._platt = (float(platt[0]), float(platt[1]))
            self._platt_at = int(platt[2])
        elif len(self.pairs) >= _CALIBRATE_AFTER:
            self._recalibrate()
