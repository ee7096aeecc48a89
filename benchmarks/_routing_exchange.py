"""The exchange's side of the routing benchmark: passes over recorded prompts, for real.

As a user deploys it: one Atomic task per source dataset (RouterBench's ``eval_name``: ARC,
MBPP, Winogrande are different jobs, with a learner state each). Every pass opens its own
:class:`atomic.Atomic` (a fresh SQLite store in a scratch folder) with one
:class:`ReplayModel` per recorded model, runs each prompt through the exchange, and
reports only the served model's recorded quality back with ``record_outcome`` (bandit
feedback). Warm passes start from a learner taught every training row's outcomes with
``Exchange.observe`` (full information, as a supervised router is trained).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Sensitivity, Task
from atomic.exchange import Objective, TaskPolicy
from atomic.learning import Learner, LearnerKey
from atomic.models import ReplayModel, RouterBenchData, RouterBenchRow, replay_models

__all__ = [
    "LearnerConfig",
    "PassResult",
    "RoutingInput",
    "routing_task",
    "routing_tasks",
    "run_pass",
    "warm_states",
]

TASK_PREFIX = "routerbench"


class RoutingInput(BaseModel):
    """One recorded prompt, as the exchange sees it."""

    sample_id: str
    prompt: str
    eval_name: str


def routing_task(eval_name: str) -> Task[RoutingInput, str]:
    """The task of one source dataset: free text, judged later by ground truth."""
    return Task(
        f"{TASK_PREFIX}-{eval_name}",
        input=RoutingInput,
        output=str,
        instructions="Answer the prompt.",
        sensitivity=Sensitivity.PUBLIC,
        description=f"A {eval_name} prompt of RouterBench, answered from recorded responses.",
    )


def routing_tasks(rows: Sequence[RouterBenchRow]) -> dict[str, Task[RoutingInput, str]]:
    """One task per source dataset among ``rows``, by ``eval_name``."""
    return {name: routing_task(name) for name in sorted({r.eval_name for r in rows})}


def _input(row: RouterBenchRow) -> dict[str, str]:
    return {"sample_id": row.sample_id, "prompt": row.prompt, "eval_name": row.eval_name}


@dataclass(frozen=True)
class LearnerConfig:
    """The learner's hyper-parameters for the benchmark (``Learner(...)``'s arguments)."""

    dims: int = 64
    prior_strength: float = 2.0
    decay: float = 0.995

    def build(self, seed: int) -> Learner:
        return Learner(
            dims=self.dims, seed=seed, prior_strength=self.prior_strength, decay=self.decay
        )


@dataclass
class PassResult:
    """What one pass over the test prompts did, in stream order."""

    label: str
    objective: dict[str, Any]
    choices: list[str] = field(default_factory=list)
    """The recorded model's name that served each prompt."""
    quality: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    propensity: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(self.quality) / max(len(self.quality), 1)

    @property
    def mean_cost(self) -> float:
        return sum(self.cost) / max(len(self.cost), 1)


async def _open(
    home: Path,
    models: Sequence[ReplayModel],
    tasks: dict[str, Task[RoutingInput, str]],
    learner: LearnerConfig,
    seed: int,
) -> Atomic:
    atomic = await Atomic.open(
        AtomicSettings(home=home, local_models=[], learned_models=False, encoder="none"),
        models=models,
        tasks=list(tasks.values()),
        seed=seed,
    )
    atomic.exchange.learner = learner.build(seed)
    return atomic


async def warm_states(
    home: Path,
    train: RouterBenchData,
    models: Sequence[ReplayModel],
    learner: LearnerConfig,
    seed: int,
    on_row: Callable[[], None] = lambda: None,
) -> dict[LearnerKey, dict[str, Any]]:
    """Teach a learner every model's outcome on every training row (in a seeded random
    order, so the file order does not decide what slow forgetting keeps); return its state."""
    rows = list(train.rows)
    random.Random(seed).shuffle(rows)
    tasks = routing_tasks(rows)
    async with await _open(home, models, tasks, learner, seed) as atomic:
        for row in rows:
            data = _input(row)
            for model in models:
                atomic.exchange.observe(
                    tasks[row.eval_name], data, model.id, row.quality[model.name]
                )
            on_row()
        engine = atomic.exchange.learner
        return {key: engine.state_of(key) for key in sorted(engine.keys())}


async def run_pass(
    home: Path,
    label: str,
    rows: Sequence[RouterBenchRow],
    test: RouterBenchData,
    price_from: RouterBenchData,
    policy: TaskPolicy,
    *,
    learner: LearnerConfig,
    seed: int,
    warm: dict[LearnerKey, dict[str, Any]] | None,
    feedback: bool = True,
    explain: bool = False,
    on_row: Callable[[], None] = lambda: None,
) -> PassResult:
    """Run every row through the exchange under ``policy``; after each call, report the
    served model's recorded quality (only that one) unless ``feedback`` is off. With
    ``explain``, each run's propensity is read back from its stored auction record."""
    models = replay_models(test, price_from=price_from)
    names = {model.id: model.name for model in models}
    tasks = routing_tasks([*test.rows, *rows])
    objective: Objective = policy.objective
    result = PassResult(label, {"kind": objective.kind, **objective.params()})
    async with await _open(home, models, tasks, learner, seed) as atomic:
        for key, state in (warm or {}).items():
            atomic.exchange.learner.load(key, state)
        for task in tasks.values():
            atomic.exchange.configure(task.name, policy)
        for row in rows:
            served = await atomic.run(tasks[row.eval_name], _input(row))
            name = names[served.model_id]
            quality = row.quality[name]
            if feedback:
                await atomic.record_outcome(served.run_id, quality, source="ground_truth")
            result.choices.append(name)
            result.quality.append(quality)
            result.cost.append(served.cost_usd)
            result.run_ids.append(served.run_id)
            on_row()
        for run_id in result.run_ids if explain else ():
            record = await atomic.explain(run_id)
            result.propensity.append(record.propensity)
    return result
