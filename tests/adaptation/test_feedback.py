"""Feedback through the whole library, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.errors import FeedbackConflictError, FeedbackError
from atomic.exchange import TaskPolicy
from atomic.models import FunctionModel, ModelRequest, Price, function_card


class Message(BaseModel):
    text: str


Intent = Literal["card_arrival", "change_pin", "atm_fee"]

intent = Task(
    "intent",
    input=Message,
    output=Intent,
    instructions="Pick the customer's intent.",
    value_usd=0.01,
)


class Facts(BaseModel):
    amount: float | None = None
    currency: Literal["EUR", "GBP", "USD"] | None = None


facts = Task("facts", input=Message, output=Facts, instructions="Extract the facts.")


class Recorder:
    """A model that answers a fixed label and keeps every request it was sent."""

    def __init__(self, answer: str, model_id: str = "fn:guess", price: float = 0.0) -> None:
        self.requests: list[ModelRequest] = []
        self.answer = answer
        card = function_card(model_id, price=Price(per_call=price), quality_prior=0.6)
        self.model = FunctionModel(self._call, card=card)

    def _call(self, request: ModelRequest) -> str:
        self.requests.append(request)
        if request.output and "label" in json.dumps(request.output.json_schema):
            return json.dumps({"label": self.answer})
        return json.dumps({"amount": 12.5, "currency": "EUR"})


def _settings(tmp_path: Path, store_url: str, **extra: object) -> AtomicSettings:
    return AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], max_attempts=1, **extra
    )


async def _open(settings: AtomicSettings, *models: FunctionModel) -> Atomic:
    atomic = await Atomic.open(settings, models=models, tasks=[intent, facts], seed=3)
    atomic.exchange.configure("intent", TaskPolicy(exploration=0.0))
    return atomic


def _demos(request: ModelRequest) -> list[str]:
    """The demonstration inputs in a prompt, after the task's own seed examples."""
    return [m.content for m in request.messages[1:-1] if m.role == "user"]


async def test_a_correction_becomes_a_demonstration_in_the_next_similar_prompt(
    tmp_path: Path, store_url: str
) -> None:
    guess = Recorder("change_pin")
    async with await _open(_settings(tmp_path, store_url), guess.model) as atomic:
        first = await atomic.run("intent", {"text": "My new card has not arrived in the post"})
        assert _demos(guess.requests[-1]) == []

        record = await atomic.record_feedback(
            first.run_id, "corrected", output="card_arrival", source="human"
        )
        assert record.reward == 0.0  # the model said change_pin

        second = await atomic.run("intent", {"text": "The card has still not arrived"})
        demos = _demos(guess.requests[-1])
        assert demos == ['{"text":"My new card has not arrived in the post"}']
        answer = [m.content for m in guess.requests[-1].messages if m.role == "assistant"]
        assert answer == ['{"label": "card_arrival"}']

        explained = await atomic.explain(second.run_id)
        assert [e.output for e in explained.examples] == ["card_arrival"]
        assert explained.examples[0].run_id == first.run_id
        assert explained.examples[0].similarity > 0.2

        unrelated = await atomic.run("intent", {"text": "fee at the cash machine"})
        assert (await atomic.explain(unrelated.run_id)).examples == []


async def test_feedback_moves_the_next_auction_and_counts_once(
    tmp_path: Path, store_url: str
) -> None:
    guess = Recorder("change_pin")
    async with await _open(_settings(tmp_path, store_url), guess.model) as atomic:
        first = await atomic.run("intent", {"text": "card not arrived"})
        before = (await atomic.explain(first.run_id)).bid("fn:guess")
        assert before is not None

        await atomic.record_feedback(first.run_id, "incorrect", source="human")
        second = await atomic.run("intent", {"text": "card not arrived"})
        after = (await atomic.explain(second.run_id)).bid("fn:guess")
        assert after is not None
        assert after.p_success < before.p_success

        again = await atomic.record_feedback(first.run_id, "incorrect", source="human")
        third = await atomic.run("intent", {"text": "card not arrived"})
        same = (await atomic.explain(third.run_id)).bid("fn:guess")
        assert same is not None
        # The same word again is not counted again: one judgement (the third run's valid
        # output moves only the validity factor).
        assert "(1 judgement)" in after.p_source
        assert "(1 judgement)" in same.p_source
        assert same.p_success == pytest.approx(after.p_success, abs=0.01)
        assert len(await atomic.store.list_feedback(first.run_id)) == 1
        assert again.id == (await atomic.store.list_feedback(first.run_id))[0].id

        with pytest.raises(FeedbackConflictError, match=again.id):
            await atomic.record_feedback(first.run_id, "correct", id=again.id)


async def test_a_bad_correction_is_rejected_with_its_errors_and_changes_nothing(
    tmp_path: Path, store_url: str
) -> None:
    guess = Recorder("change_pin")
    async with await _open(_settings(tmp_path, store_url), guess.model) as atomic:
        label_run = await atomic.run("intent", {"text": "where is my card"})
        with pytest.raises(FeedbackError) as caught:
            await atomic.record_feedback(label_run.run_id, "corrected", output="lost_card")
        assert "card_arrival" in caught.value.errors[0]

        facts_run = await atomic.run("facts", {"text": "I paid 12.50 EUR"})
        with pytest.raises(FeedbackError) as bad_facts:
            await atomic.record_feedback(
                facts_run.run_id, "corrected", output={"amount": "lots", "currency": "EUR"}
            )
        assert bad_facts.value.errors[0].startswith("amount:")
        with pytest.raises(FeedbackError, match="score"):
            await atomic.record_feedback(facts_run.run_id, "score", score=1.5)
        with pytest.raises(FeedbackError, match="source"):
            await atomic.record_feedback(facts_run.run_id, "correct", source="boss")

        assert await atomic.store.list_feedback(label_run.run_id) == []
        assert await atomic.store.list_feedback(facts_run.run_id) == []
        assert (await atomic.task_status("intent")).memory_size == 0

        fixed = await atomic.record_feedback(
            facts_run.run_id, "corrected", output={"amount": 12.5, "currency": "GBP"}
        )
        assert fixed.output == {"amount": 12.5, "currency": "GBP"}
        assert (await atomic.task_status("facts")).memory_size == 1


async def test_a_correction_of_a_correction_supersedes_it(tmp_path: Path, store_url: str) -> None:
    guess = Recorder("change_pin")
    async with await _open(_settings(tmp_path, store_url), guess.model) as atomic:
        run = await atomic.run("intent", {"text": "cash machine fee"})
        first = await atomic.record_feedback(run.run_id, "corrected", output="card_arrival")
        second = await atomic.record_feedback(run.run_id, "corrected", output="atm_fee")

        stored = {f.id: f for f in await atomic.store.list_feedback(run.run_id)}
        assert stored[first.id].superseded_by == second.id
        assert stored[second.id].superseded_by is None
        remembered = list(atomic.adaptation.memory("default", "intent"))
        assert [r.output for r in remembered] == ["atm_fee"]
        assert [r.output for r in await atomic.store.load_memory()] == ["atm_fee"]

        await atomic.record_feedback(run.run_id, "incorrect")  # retracts the example too
        assert await atomic.store.load_memory() == []


async def test_the_learned_classifier_wins_the_inputs_it_is_sure_of_and_cost_falls(
    tmp_path: Path, store_url: str
) -> None:
    topics = {
        "card_arrival": "my card has not arrived yet, still waiting for the card in the post",
        "change_pin": "how do I change my pin code, I want a new pin",
        "atm_fee": "why was I charged a fee for cash at the atm machine",
    }
    expert = Recorder("atm_fee", model_id="fn:expert", price=0.004)
    expert.model.card = function_card("fn:expert", price=Price(per_call=0.004), quality_prior=0.95)
    settings = _settings(tmp_path, store_url, classifier_min_examples=12)
    async with await _open(settings, expert.model) as atomic:
        early = await atomic.run("intent", {"text": topics["change_pin"]})
        record = await atomic.explain(early.run_id)
        assert [(e.model_id, e.code) for e in record.exclusions] == [("learned:intent", "declined")]
        assert "not trained yet" in record.exclusions[0].reason

        examples = [
            ({"text": f"{text} (case {i})"}, label)
            for i in range(12)
            for label, text in topics.items()
        ]
        assert await atomic.remember("intent", examples) == 36
        status = await atomic.task_status("intent")
        assert status.classifier is not None
        assert status.classifier.trained

        # Ground truth flows back; the classifier's held-out record builds its confidence.
        for i in range(20):
            label = list(topics)[i % 3]
            result = await atomic.run("intent", {"text": f"{topics[label]} again {i}"})
            verdict = "correct" if result.output == label else "corrected"
            output = None if verdict == "correct" else label
            await atomic.record_feedback(
                result.run_id, verdict, output=output, source="ground_truth"
            )
        late = await atomic.run("intent", {"text": "my pin code, how to change it"})
        assert late.model_id == "learned:intent"
        assert late.output == "change_pin"
        assert late.cost_usd < 0.004
        bid = (await atomic.explain(late.run_id)).bid("learned:intent")
        assert bid is not None
        assert "own confidence" in bid.p_source
        shares = (await atomic.task_status("intent")).win_shares
        assert shares["learned:intent"] >= 1
        assert shares["fn:expert"] >= 1


async def test_adaptation_survives_a_restart_and_stays_within_its_tenant(
    tmp_path: Path, store_url: str
) -> None:
    guess = Recorder("change_pin")
    settings = _settings(tmp_path, store_url, classifier_min_examples=4)
    labelled = [
        ({"text": "card not here"}, "card_arrival"),
        ({"text": "new pin please"}, "change_pin"),
        ({"text": "atm fee charged"}, "atm_fee"),
        ({"text": "still no card"}, "card_arrival"),
    ]
    async with await _open(settings, guess.model) as atomic:
        await atomic.remember("intent", labelled)
        await atomic.adaptation.freeze("intent")
        before = await atomic.task_status("intent")
    assert before.memory_size == 4
    assert before.frozen
    assert before.classifier is not None
    assert before.classifier.version == 1

    async with await _open(settings, guess.model) as reopened:
        after = await reopened.task_status("intent")
        assert after.memory_size == 4
        assert after.frozen
        assert after.classifier is not None
        assert (after.classifier.trained, after.classifier.version) == (True, 1)
        run = await reopened.run("intent", {"text": "still no card here"})
        assert (await reopened.explain(run.run_id)).examples  # memory is back in prompts
        # Frozen: feedback is recorded and counted, but memory does not change.
        await reopened.record_feedback(run.run_id, "corrected", output="card_arrival")
        assert (await reopened.task_status("intent")).memory_size == 4

    other = settings.model_copy(update={"tenant": "other"})
    async with await _open(other, guess.model) as tenant_b:
        status = await tenant_b.task_status("intent")
        assert (status.memory_size, status.frozen) == (0, False)
        assert status.classifier is not None
        assert not status.classifier.trained
        run = await tenant_b.run("intent", {"text": "still no card here"})
        record = await tenant_b.explain(run.run_id)
        assert record.examples == []
        assert ("learned:intent", "declined") in [(e.model_id, e.code) for e in record.exclusions]

    async with await _open(settings, guess.model) as again:
        assert await again.adaptation.reset("intent") == 4
        status = await again.task_status("intent")
        assert status.memory_size == 0
        assert status.classifier is not None
        assert not status.classifier.trained
