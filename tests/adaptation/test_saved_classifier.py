"""A trained classifier saved in the store and loaded back: the same predictions, no
retraining at open, and a blob that cannot run code."""

from __future__ import annotations

import io
import logging
import pickle
import random
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.adaptation import TextClassifier
from atomic.adaptation._classifier_blob import read_blob
from atomic.errors import StorageError
from atomic.models import FunctionModel, function_card
from atomic.storage import ClassifierRecord, Store

TOPICS = {
    "card_arrival": ["card", "arrive", "post", "delivery", "waiting", "still", "ordered"],
    "change_pin": ["pin", "change", "reset", "code", "forgot", "new", "number"],
    "atm_fee": ["atm", "fee", "charged", "cash", "withdrawal", "extra", "machine"],
}
QUERIES = ["my card has not arrived", "forgot my pin", "atm fee", "hello there", "pin card fee"]


class Message(BaseModel):
    text: str


intent = Task(
    "intent",
    input=Message,
    output=Literal["card_arrival", "change_pin", "atm_fee"],
    instructions="Pick the customer's intent.",
)


def _labelled(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        label = sorted(TOPICS)[i % 3]
        words = rng.sample(TOPICS[label], 3) + rng.sample(["i", "my", "the", "please"], 2)
        pairs.append((" ".join(words) + f" {i}", label))
    return pairs


def _probabilities(classifier: TextClassifier, text: str) -> np.ndarray:
    assert classifier.predict(text) is not None  # builds the loaded classifier's objects
    assert classifier._model is not None
    assert classifier._vectorizer is not None
    return np.asarray(classifier._model.predict_proba(classifier._vectorizer.transform([text])))


async def test_a_classifier_saved_in_the_store_predicts_exactly_as_before(store_url: str) -> None:
    pairs = _labelled(90)
    trained = TextClassifier(min_examples=10)
    trained.fit([t for t, _ in pairs], [label for _, label in pairs])
    store = await Store.open(store_url)
    try:
        record = ClassifierRecord(
            task_name="intent", version=trained.version, trained_on=90, blob=trained.dump()
        )
        await store.save_adaptation(classifier=record)
        await store.save_adaptation(classifier=record)  # saved again: one row, replaced
        (saved,) = await store.load_classifiers()
        assert await store.load_classifiers(tenant="other") == []
    finally:
        await store.close()
    assert saved.blob == record.blob

    loaded = TextClassifier(min_examples=10)
    loaded.load(saved.blob, version=saved.version, trained_on=saved.trained_on)
    assert (loaded.trained, loaded.version, loaded.trained_on) == (True, 1, 90)
    assert not loaded.wants_refit(95, 3)
    for text in QUERIES + [t for t, _ in pairs[:10]]:
        assert loaded.predict(text) == trained.predict(text)
        assert np.array_equal(_probabilities(loaded, text), _probabilities(trained, text))


def test_a_two_label_classifier_round_trips_too() -> None:
    # Two labels make scikit-learn keep one row of coefficients instead of one per label.
    pairs = [(t, label) for t, label in _labelled(60) if label != "atm_fee"]
    trained = TextClassifier(min_examples=10)
    trained.fit([t for t, _ in pairs], [label for _, label in pairs])
    loaded = TextClassifier(min_examples=10)
    loaded.load(trained.dump(), version=1, trained_on=len(pairs))
    for text in QUERIES:
        assert np.array_equal(_probabilities(loaded, text), _probabilities(trained, text))


def _settings(tmp_path: Path, store_url: str) -> AtomicSettings:
    return AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], classifier_min_examples=10
    )


async def _open(settings: AtomicSettings) -> Atomic:
    model = FunctionModel(lambda request: '{"label": "atm_fee"}', card=function_card("fn:guess"))
    return await Atomic.open(settings, models=[model], tasks=[intent])


class _FitCounter:
    """Counts :meth:`TextClassifier.fit` calls (and still fits)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        fit = TextClassifier.fit

        def counted(clf: TextClassifier, *args: object, **kwargs: object) -> None:
            self.calls += 1
            fit(clf, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(TextClassifier, "fit", counted)


async def test_reopening_atomic_loads_the_classifier_instead_of_retraining_it(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, store_url)
    fits = _FitCounter(monkeypatch)
    async with await _open(settings) as atomic:
        await atomic.remember("intent", [({"text": t}, label) for t, label in _labelled(40)])
        classifier = atomic.adaptation.classifier("default", "intent")
        assert classifier is not None
        before = [classifier.predict(q) for q in QUERIES]
    assert fits.calls == 1

    async with await _open(settings) as reopened:
        status = await reopened.task_status("intent")
        assert status.classifier is not None
        assert (status.classifier.trained, status.classifier.version) == (True, 1)
        assert status.classifier.trained_on == 40
        classifier = reopened.adaptation.classifier("default", "intent")
        assert classifier is not None
        assert [classifier.predict(q) for q in QUERIES] == before
    assert fits.calls == 1  # loaded, not retrained

    # Memory that outgrows the saved classifier by a tenth retrains it, once, and saves it.
    async with await _open(settings) as atomic:
        more = [({"text": t}, label) for t, label in _labelled(10, seed=1)]
        await atomic.remember("intent", more)
    assert fits.calls == 2
    async with await _open(settings) as reopened:
        status = await reopened.task_status("intent")
        assert status.classifier is not None
        assert (status.classifier.version, status.classifier.trained_on) == (2, 50)
        (saved,) = await reopened.store.load_classifiers()
        assert (saved.version, saved.trained_on) == (2, 50)
    assert fits.calls == 2

    async with await _open(settings) as atomic:
        await atomic.adaptation.reset("intent")  # forgets the saved classifier too
        assert await atomic.store.load_classifiers() == []


async def test_a_database_without_a_saved_classifier_retrains_once_and_saves_it(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, store_url)
    async with await _open(settings) as atomic:
        await atomic.remember("intent", [({"text": t}, label) for t, label in _labelled(30)])
        # As a database from before classifiers were saved: memory, and no classifier row.
        async with atomic.store.engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM classifiers"))
    fits = _FitCounter(monkeypatch)
    for _ in range(2):
        async with await _open(settings) as reopened:
            status = await reopened.task_status("intent")
            assert status.classifier is not None
            assert (status.classifier.version, status.classifier.trained_on) == (1, 30)
    assert fits.calls == 1


effects: list[str] = []


def _run_code() -> str:
    effects.append("unpickled")
    return "pwned"


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_run_code, ())


def _blob_with_object_array() -> bytes:
    pairs = _labelled(30)
    classifier = TextClassifier(min_examples=10)
    classifier.fit([t for t, _ in pairs], [label for _, label in pairs])
    buffer = io.BytesIO()
    with np.load(io.BytesIO(classifier.dump())) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["classes"] = np.array([_Payload()], dtype=object)  # numpy pickles object arrays
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_blob_holding_a_pickled_object_is_rejected_without_running_it() -> None:
    effects.clear()
    with pytest.raises(StorageError, match="'classes' array holds Python objects") as caught:
        read_blob(_blob_with_object_array())
    assert caught.value.hint is not None
    assert "retrained from memory" in caught.value.hint
    with pytest.raises(StorageError, match=r"not a NumPy \.npz archive"):
        read_blob(pickle.dumps(_Payload()))
    assert effects == []


async def test_an_unreadable_saved_classifier_is_skipped_and_retrained_at_open(
    tmp_path: Path, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    effects.clear()
    settings = _settings(tmp_path, store_url)
    async with await _open(settings) as atomic:
        await atomic.remember("intent", [({"text": t}, label) for t, label in _labelled(30)])
        forged = ClassifierRecord(
            task_name="intent", version=7, trained_on=30, blob=_blob_with_object_array()
        )
        await atomic.store.save_adaptation(classifier=forged)

    with caplog.at_level(logging.WARNING, logger="atomic.adaptation"):
        async with await _open(settings) as reopened:
            status = await reopened.task_status("intent")
            assert status.classifier is not None
            assert status.classifier.trained
            assert status.classifier.version == 1  # not the forged row's
            (saved,) = await reopened.store.load_classifiers()
            read_blob(saved.blob)  # replaced by a readable one
    assert effects == []
    assert "retraining it from memory" in caplog.text
