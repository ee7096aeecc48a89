"""A process reading a task's status sees the classifier another process trained since it
opened (the service's dashboard reads the classifier the library's process trains)."""

from __future__ import annotations

from pathlib import Path

from tests.adaptation.test_saved_classifier import QUERIES, _labelled, _open, _settings


async def test_status_shows_the_classifier_another_process_trained(
    tmp_path: Path, store_url: str
) -> None:
    settings = _settings(tmp_path, store_url)
    async with await _open(settings) as reader, await _open(settings) as trainer:
        before = await reader.task_status("intent")
        assert before.classifier is not None
        assert not before.classifier.trained

        await trainer.remember("intent", [({"text": t}, label) for t, label in _labelled(40)])
        trained = trainer.adaptation.classifier("default", "intent")
        assert trained is not None
        assert trained.trained

        after = await reader.task_status("intent")
        assert after.classifier is not None
        assert (after.classifier.trained, after.classifier.version) == (True, trained.version)
        assert after.classifier.trained_on == 40
        # The reader now predicts with it, as the trainer does.
        loaded = reader.adaptation.classifier("default", "intent")
        assert loaded is not None
        assert [loaded.predict(q) for q in QUERIES] == [trained.predict(q) for q in QUERIES]
