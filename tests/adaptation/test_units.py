"""Memory, retrieval and the classifier on their own, without a store."""

from __future__ import annotations

import random
from datetime import timedelta

from atomic.adaptation import LexicalIndex, TaskMemory, TextClassifier, input_key, text_of
from atomic.storage import MemoryRecord, utcnow


def test_lexical_index_finds_the_closest_text_and_forgets_removed_ones() -> None:
    index = LexicalIndex()
    index.add_many(
        [
            ("arrival", "my new card has still not arrived"),
            ("pin", "how do I change the PIN of my card"),
            ("fee", "why was I charged a fee at the ATM"),
        ]
    )
    hits = index.search("the card I ordered has not arrived yet", k=2)
    assert hits[0][0] == "arrival"
    assert hits[0][1] > hits[1][1]

    index.remove("arrival")
    assert "arrival" not in index
    assert [h for h, _ in index.search("card not arrived", k=3)] != ["arrival"]
    assert all(h != "arrival" for h, _ in index.search("card not arrived", k=3))
    assert len(index) == 2

    index.add("pin", "please unblock my card")  # replacing an id keeps one entry
    assert len(index) == 2
    assert index.search("unblock", k=1)[0][0] == "pin"


def test_lexical_index_stays_correct_as_it_grows_between_reweighing() -> None:
    index = LexicalIndex()
    rng = random.Random(0)
    words = [f"w{i}" for i in range(200)]
    texts = {f"t{i}": " ".join(rng.sample(words, 6)) for i in range(300)}
    for item_id, text in texts.items():
        index.add(item_id, text)
        best, score = index.search(text, k=1)[0]
        # The text itself is always (one of) the most similar; duplicates tie at 1.0.
        assert score > 0.999
        assert texts[best] == text


def test_input_key_ignores_case_punctuation_and_spacing() -> None:
    assert input_key({"text": "Where is my card?"}) == input_key({"text": "where is  my card"})
    assert input_key({"text": "Where is my card?"}) != input_key({"text": "Where is my PIN?"})
    assert text_of({"subject": "Hi", "body": "Card lost", "n": 3}) == "Hi\nCard lost"


def _record(
    memory: TaskMemory, text: str, label: str, source: str, age_s: float = 0
) -> MemoryRecord:
    record = memory.new_record(
        key=input_key({"text": text}), data={"text": text}, text=text, output=label, source=source
    )
    when = utcnow() - timedelta(seconds=age_s)
    return record.model_copy(update={"created_at": when, "updated_at": when})


def test_memory_resolves_conflicts_by_trust_then_recency() -> None:
    memory = TaskMemory("t", "task", capacity=10)
    assert memory.propose(_record(memory, "Card lost!", "lost_card", "human")).kept

    judged = memory.propose(_record(memory, "card lost", "stolen_card", "judge"))
    assert not judged.kept
    assert "human" in judged.reason

    newer = memory.propose(_record(memory, "CARD LOST", "card_swallowed", "human"))
    assert newer.kept
    assert newer.replaced is not None
    assert newer.replaced.output == "lost_card"

    truth = memory.propose(_record(memory, "card lost.", "lost_or_stolen_card", "ground_truth"))
    assert truth.kept
    assert len(memory) == 1
    assert next(iter(memory)).output == "lost_or_stolen_card"


def test_memory_evicts_the_least_trusted_then_oldest_past_its_capacity() -> None:
    memory = TaskMemory("t", "task", capacity=3)
    memory.propose(_record(memory, "old truth", "a", "ground_truth", age_s=100))
    memory.propose(_record(memory, "old check", "b", "check", age_s=90))
    memory.propose(_record(memory, "new check", "c", "check", age_s=10))
    change = memory.propose(_record(memory, "fresh human", "d", "human"))

    assert [e.text for e in change.evicted] == ["old check"]
    assert sorted(r.text for r in memory) == ["fresh human", "new check", "old truth"]
    assert memory.search("old check", k=3)[0][0].text != "old check"


def _intents(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    topics = {
        "card_arrival": ["card", "arrive", "post", "delivery", "still", "waiting"],
        "change_pin": ["pin", "change", "reset", "code", "new", "forgot"],
        "atm_fee": ["atm", "fee", "charged", "cash", "withdrawal", "extra"],
    }
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(sorted(topics))
        texts.append(" ".join(rng.sample(topics[label], 3) + rng.sample(["i", "my", "the"], 2)))
        labels.append(label)
    return texts, labels


def test_classifier_learns_refits_as_memory_grows_and_calibrates_on_held_out_pairs() -> None:
    classifier = TextClassifier(min_examples=10)
    texts, labels = _intents(200)
    assert not classifier.wants_refit(5, 3)
    assert classifier.predict("my card") is None

    classifier.fit(texts[:40], labels[:40])
    assert classifier.version == 1
    assert not classifier.wants_refit(42, 3)  # grown by less than a tenth
    assert classifier.wants_refit(44, 3)

    for text, label in zip(texts[40:], labels[40:], strict=True):
        assert classifier.observe(text, label) is not None
    accuracy = classifier.heldout_accuracy()
    assert accuracy is not None
    assert accuracy > 0.9
    prediction = classifier.predict("my pin code forgot")
    assert prediction is not None
    assert prediction.label == "change_pin"
    # Calibrated on 160 held-out judgements: it is as confident as it is accurate.
    assert abs(prediction.confidence - accuracy) < 0.1

    state = classifier.to_state()
    restored = TextClassifier(min_examples=10)
    restored.load_state(state)
    restored.fit(texts[:40], labels[:40], bump=False)
    assert restored.version == 1
    assert restored.evidence == classifier.evidence
    again = restored.predict("my pin code forgot")
    assert again is not None
    assert abs(again.confidence - prediction.confidence) < 1e-9
