"""A run the learned classifier served: its lineage names the classifier version that bid."""

from __future__ import annotations

import json
from pathlib import Path

from atomic import Atomic
from atomic.exchange import TaskPolicy
from atomic.lineage import to_prov
from atomic.models import FunctionModel, ModelRequest, Price, function_card
from tests.lineage._history import intent, settings

TOPICS = {
    "card_arrival": "my card has not arrived yet, still waiting for the card in the post",
    "change_pin": "how do I change my pin code, I want a new pin",
    "atm_fee": "why was I charged a fee for cash at the atm machine",
}


def _expert() -> FunctionModel:
    def call(request: ModelRequest) -> str:
        return json.dumps({"label": "atm_fee"})

    card = function_card("fn:expert", price=Price(per_call=0.004), quality_prior=0.95)
    return FunctionModel(call, card=card)


async def test_a_learned_run_names_its_classifier_version(tmp_path: Path, store_url: str) -> None:
    config = settings(tmp_path, store_url).model_copy(update={"classifier_min_examples": 12})
    async with await Atomic.open(config, models=[_expert()], tasks=[intent], seed=3) as atomic:
        atomic.exchange.configure("intent", TaskPolicy(exploration=0.0))
        taught = [
            ({"text": f"{text} (case {i})"}, label)
            for i in range(12)
            for label, text in TOPICS.items()
        ]
        await atomic.remember("intent", taught)
        for i in range(20):
            label = list(TOPICS)[i % 3]
            result = await atomic.run("intent", {"text": f"{TOPICS[label]} again {i}"})
            verdict = "correct" if result.output == label else "corrected"
            await atomic.record_feedback(
                result.run_id,
                verdict,
                output=None if verdict == "correct" else label,
                source="ground_truth",
            )
        late = await atomic.run("intent", {"text": "my pin code, how to change it"})
        assert late.model_id == "learned:intent"
        lineage = await atomic.lineage(late.run_id)
        status = await atomic.task_status("intent")

    classifier = lineage.root.classifier
    assert classifier is not None
    assert status.classifier is not None
    assert classifier.model_id == "learned:intent"
    assert classifier.version is not None
    assert classifier.version >= 1
    assert classifier.current_version == classifier.version
    assert classifier.trained_on is not None
    assert classifier.trained_on >= 36
    # The example in its prompt came from a run that ground truth labelled.
    [used] = lineage.root.examples
    assert used.source_run_id is not None
    source = lineage.run(used.source_run_id)
    assert source is not None
    assert [f.source for f in source.feedback] == ["ground_truth"]
    assert used.feedback_id == source.feedback[0].id
    doc = to_prov(lineage)
    assert f"atomic:classifier/intent@v{classifier.version}" in doc["entity"]
