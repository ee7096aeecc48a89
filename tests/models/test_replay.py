"""Replay models: recorded answers and costs served through the real exchange."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Sensitivity, Task
from atomic.errors import AtomicError
from atomic.exchange import TaskPolicy, Utility
from atomic.models import (
    Message,
    ModelRequest,
    ReplayModel,
    Residency,
    load_routerbench,
    replay_model_id,
    replay_models,
)

SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "routerbench"
MODELS = ("org/big-model", "small-model")
CODE = "def f(xs):\n    return [x for x in xs if x]  # {'not': 'json'}"


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    columns = ["", "sample_id", "prompt", "eval_name", *MODELS]
    columns += [f"{m}|model_response" for m in MODELS] + [f"{m}|total_cost" for m in MODELS]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*columns, "oracle_model_to_route_to"])
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({"": str(i), **row})


def _row(sample: str, big: tuple[str, str, str], small: tuple[str, str, str]) -> dict[str, str]:
    row = {"sample_id": sample, "prompt": f"['Question {sample}?']", "eval_name": "quiz"}
    for model, (quality, response, cost) in zip(MODELS, (big, small), strict=True):
        row |= {model: quality, f"{model}|model_response": response,
                f"{model}|total_cost": cost}  # fmt: skip
    return row


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "bench"
    data.mkdir()
    _write(data / "quiz_train.csv", [
        _row("quiz.1", ("1.0", "['A']", "0.004"), ("0.0", "['B']", "0.0001")),
        _row("quiz.2", ("1.0", "['C']", "0.002"), ("1.0", "['C']", "0.0003")),
        _row("quiz.3", ("", "['C']", "0.002"), ("1.0", "['C']", "0.0003")),  # empty: skipped
    ])  # fmt: skip
    _write(data / "quiz_test.csv", [
        _row("quiz.10", ("1.0", "['D']", "0.005"), ("0.0", f"[{CODE!r}]", "0.0002")),
        _row("quiz.11", ("0.0", "['A']", "0.003"), ("1.0", "['B']", "0.0001")),
    ])  # fmt: skip
    return data


class Item(BaseModel):
    sample_id: str
    prompt: str
    eval_name: str


answer = Task(
    "recorded-answer",
    input=Item,
    output=str,
    instructions="Answer the prompt.",
    sensitivity=Sensitivity.PUBLIC,
)


def test_load_discovers_models_skips_empty_rows_and_unwraps_text(folder: Path) -> None:
    train = load_routerbench(folder, "train")
    assert train.models == MODELS
    assert [r.sample_id for r in train.rows] == ["quiz.1", "quiz.2"]
    assert train.skipped == 1
    assert train.rows[0].prompt == "Question quiz.1?"
    assert train.rows[0].response["org/big-model"] == "A"
    assert train.mean_cost("org/big-model") == pytest.approx(0.003)
    assert train.accuracy("small-model") == pytest.approx(0.5)


def test_load_explains_a_folder_without_the_split(tmp_path: Path) -> None:
    with pytest.raises(AtomicError, match=r"no \*_test.csv files"):
        load_routerbench(tmp_path, "test")


def test_card_id_price_residency_and_prior(folder: Path) -> None:
    train, test = load_routerbench(folder, "train"), load_routerbench(folder, "test")
    model = ReplayModel("org/big-model", test, price_from=train)
    assert model.id == "replay:org--big-model" == replay_model_id("org/big-model")
    assert model.card.provider == "replay"
    assert model.card.residency is Residency.CLOUD
    assert model.card.price.per_call == pytest.approx(0.003)  # the train mean, not the test's
    assert model.card.price.source == "RouterBench train split mean"
    assert model.card.quality_prior is None
    informed = ReplayModel("small-model", test, price_from=train, quality_prior=True)
    assert informed.card.quality_prior == pytest.approx(0.5)


async def test_invoke_answers_with_the_recorded_response_and_cost(folder: Path) -> None:
    model = ReplayModel("org/big-model", load_routerbench(folder, "test"))
    request = ModelRequest(
        messages=(Message(role="user", content="anything"),),
        task_input={"sample_id": "quiz.11", "prompt": "x", "eval_name": "quiz"},
    )
    response = await model.invoke(request)
    assert response.text == "A"
    assert response.cost_usd == pytest.approx(0.003)
    assert response.model_id == "replay:org--big-model"


async def test_a_sample_that_was_not_recorded_is_a_clear_error(folder: Path) -> None:
    model = ReplayModel("small-model", load_routerbench(folder, "test"))
    request = ModelRequest(
        messages=(Message(role="user", content="x"),), task_input={"sample_id": "quiz.99"}
    )
    with pytest.raises(AtomicError, match=r"no recorded answer for sample_id 'quiz\.99'"):
        await model.invoke(request)


@pytest.fixture
async def atomic(folder: Path, tmp_path: Path) -> AsyncIterator[Atomic]:
    train, test = load_routerbench(folder, "train"), load_routerbench(folder, "test")
    opened = await Atomic.open(
        AtomicSettings(home=tmp_path / "home", local_models=[]),
        models=replay_models(test, price_from=train),
        tasks=[answer],
        seed=0,
    )
    yield opened
    await opened.aclose()


async def test_a_run_returns_the_recorded_answer_even_when_it_holds_json(atomic: Atomic) -> None:
    item = {"sample_id": "quiz.10", "prompt": "Question quiz.10?", "eval_name": "quiz"}
    result = await atomic.run(answer, item, model="replay:small-model")
    assert result.output == CODE  # a program with brackets, returned whole, not parsed
    assert result.cost_usd == pytest.approx(0.0002)
    assert result.attempts == 1
    result = await atomic.run(answer, item, model="replay:org--big-model")
    assert result.output == "D"
    assert result.cost_usd == pytest.approx(0.005)


async def test_the_learner_sees_only_the_served_models_outcome(
    folder: Path, atomic: Atomic
) -> None:
    test = load_routerbench(folder, "test")
    atomic.exchange.configure(
        answer.name,
        TaskPolicy(
            objective=Utility(value_usd=1.0),
            contextual=True,
            max_cascade=1,
        ),
    )
    served: list[str] = []
    for row in test.rows:
        item = {"sample_id": row.sample_id, "prompt": row.prompt, "eval_name": row.eval_name}
        result = await atomic.run(answer, item)
        name = next(m.name for m in replay_models(test) if m.id == result.model_id)
        await atomic.record_outcome(result.run_id, row.quality[name], source="ground_truth")
        outcome = await atomic.store.get_outcome(result.run_id, tenant="default")
        assert outcome is not None
        assert outcome.model_id == result.model_id
        assert outcome.reward == row.quality[name]
        served.append(result.model_id)

    learner = atomic.exchange.learner
    for model in replay_models(test):
        key = ("default", answer.name, model.id)
        # Every model bid, so each has a posterior; only outcomes of served runs are in them.
        state = learner.state_of(key)
        assert state["correct_probit"]["n"] == served.count(model.id)
        assert state["correct"]["n"] == served.count(model.id)
        assert state["validity"]["n"] == served.count(model.id)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared RouterBench slice is missing")
def test_the_shared_slice_loads_with_its_empty_rows_counted() -> None:
    train, test = load_routerbench(SHARED, "train"), load_routerbench(SHARED, "test")
    assert len(test.models) == 11
    assert "gpt-4-1106-preview" in test.models
    assert len(train.rows) + len(test.rows) + train.skipped + test.skipped == 3178
    assert train.skipped + test.skipped == 28
    assert test.accuracy("gpt-4-1106-preview") == pytest.approx(0.879, abs=0.001)


async def test_logged_propensities_are_the_exchanges_choice_frequencies(
    folder: Path, atomic: Atomic
) -> None:
    """Off-policy evaluation divides by the logged propensity, so it must be the real chance
    the exchange picks the winner; a frozen learner makes every call the same lottery."""
    test = load_routerbench(folder, "test")
    atomic.exchange.configure(
        answer.name,
        TaskPolicy(
            objective=Utility(value_usd=1.0),
            contextual=True,
            max_cascade=1,
        ),
    )
    row = test.rows[0]
    item = {"sample_id": row.sample_id, "prompt": row.prompt, "eval_name": row.eval_name}
    atomic.exchange.observe(answer, item, "replay:org--big-model", 1.0)  # a slight favourite
    chosen: list[str] = []
    logged: dict[str, list[float]] = {}
    for _ in range(400):
        result = await atomic.run(answer, item)  # no outcome reported: the learner stays put
        record = await atomic.explain(result.run_id)
        chosen.append(result.model_id)
        logged.setdefault(result.model_id, []).append(record.propensity)
    assert len(logged) == 2  # both models won sometimes: the test has something to compare
    for model_id, propensities in logged.items():
        frequency = chosen.count(model_id) / len(chosen)
        assert sum(propensities) / len(propensities) == pytest.approx(frequency, abs=0.05)
