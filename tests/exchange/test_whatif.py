"""What-if estimates from logged propensities land on what the other policy really gets."""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.exchange import Budget, MaxQuality, MinCost, TaskPolicy
from atomic.models import FunctionModel, ModelRequest, Price, function_card


class Question(BaseModel):
    text: str


answer = Task("answer", input=Question, output=Literal["yes", "no"], instructions="Yes or no?")


def _truth(text: str) -> str:
    return "yes" if zlib.crc32(text.encode()) % 2 else "no"


def _right_with(p: float, salt: str) -> FunctionModel:
    def reply(request: ModelRequest) -> str:
        text = (request.task_input or {})["text"]
        right = zlib.crc32(f"{salt}{text}".encode()) % 1000 < p * 1000
        label = _truth(text) if right else ("no" if _truth(text) == "yes" else "yes")
        return f'{{"label": "{label}"}}'

    return FunctionModel(reply, card=function_card(f"fn:{salt}", price=Price(per_call=0.0)))


async def test_what_if_estimates_another_objective_from_the_log(
    tmp_path: Path, store_url: str
) -> None:
    cheap = _right_with(0.6, "cheap")
    dear = _right_with(0.95, "dear")
    dear.card = dear.card.model_copy(update={"price": Price(per_call=0.004)})
    settings = AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], learned_models=False
    )
    rng = random.Random(4)
    async with await Atomic.open(settings, models=[cheap, dear], tasks=[answer], seed=2) as atomic:
        atomic.exchange.configure("answer", TaskPolicy(max_cascade=1))
        for i in range(300):
            text = f"question {i} {rng.random()}"
            result = await atomic.run(answer, {"text": text})
            verdict = "correct" if result.output == _truth(text) else "incorrect"
            await atomic.record_feedback(result.run_id, verdict, source="ground_truth")
        cheapest = await atomic.what_if("answer", MinCost(floor=0.0))
        best = await atomic.what_if("answer", MaxQuality())
        # $0.20 a day buys at most 50 of the dear model's $0.004 answers.
        paced = await atomic.what_if("answer", MaxQuality(), budget=Budget(amount_usd=0.2))
    assert cheapest.runs == best.runs == 300
    assert cheapest.choices == {"fn:cheap": 300}
    # Greedy on the bids as they were logged: the first calls, before any feedback, bid the
    # same prior, and a tie goes to the cheaper model.
    assert best.choices["fn:dear"] >= 270
    dear_share = best.choices["fn:dear"] / 300
    for estimate, truth in ((cheapest, 0.6), (best, 0.95 * dear_share + 0.6 * (1 - dear_share))):
        assert estimate.correctness is not None
        assert estimate.correctness.snips is not None
        assert estimate.correctness.snips_stderr is not None
        error = abs(estimate.correctness.snips - truth)
        assert error < 3 * estimate.correctness.snips_stderr + 0.05, estimate
        assert estimate.correctness.effective_n > 10
    assert cheapest.cost is not None
    assert cheapest.cost.snips == pytest.approx(0.0)
    assert best.cost is not None
    assert best.cost.snips == pytest.approx(0.004, rel=0.1)
    assert paced.objective["budget_usd"] == 0.2
    assert 1 <= paced.choices.get("fn:dear", 0) <= 50
    assert paced.choices["fn:cheap"] >= 250
    assert paced.cost is not None
    assert paced.cost.snips is not None
    assert paced.cost.snips < best.cost.snips / 2
    assert paced.correctness is not None
    assert paced.correctness.snips is not None
    assert best.correctness is not None
    assert best.correctness.snips is not None
    assert paced.correctness.snips < best.correctness.snips
