"""A real history for the lineage tests: corrections that become demonstrations in later
prompts, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.exchange import TaskPolicy
from atomic.models import FunctionModel, ModelRequest, Price, function_card


class Message(BaseModel):
    text: str


intent = Task(
    "intent",
    input=Message,
    output=Literal["card_arrival", "change_pin", "atm_fee"],
    instructions="Pick the customer's intent.",
    value_usd=0.01,
)


def guess_model() -> FunctionModel:
    """A model that always says ``change_pin``: wrong about cards, so it gets corrected."""

    def call(request: ModelRequest) -> str:
        return json.dumps({"label": "change_pin"})

    card = function_card("fn:guess", price=Price(per_call=0.0), quality_prior=0.6)
    return FunctionModel(call, card=card)


def settings(tmp_path: Path, store_url: str, tenant: str = "default") -> AtomicSettings:
    # One demonstration per prompt: each run uses only the example most like its input, so
    # the chain of influence below is exact.
    return AtomicSettings(
        home=tmp_path,
        database_url=store_url,
        local_models=[],
        max_attempts=1,
        memory_examples=1,
        tenant=tenant,
    )


async def open_atomic(tmp_path: Path, store_url: str, tenant: str = "default") -> Atomic:
    atomic = await Atomic.open(
        settings(tmp_path, store_url, tenant), models=[guess_model()], tasks=[intent], seed=3
    )
    atomic.exchange.configure("intent", TaskPolicy(exploration=0.0))
    return atomic


@dataclass
class History:
    """first is corrected (example A); second uses A and is corrected (example B); third
    uses B; unrelated uses nothing."""

    first: str
    first_feedback: str
    second: str
    second_feedback: str
    third: str
    unrelated: str
    example_a: str
    example_b: str


async def make_history(atomic: Atomic) -> History:
    first = await atomic.run("intent", {"text": "My new card has not arrived in the post"})
    fb1 = await atomic.record_feedback(
        first.run_id, "corrected", output="card_arrival", source="human"
    )
    second = await atomic.run("intent", {"text": "The new card has still not arrived"})
    fb2 = await atomic.record_feedback(
        second.run_id, "corrected", output="card_arrival", source="human"
    )
    third = await atomic.run("intent", {"text": "card still not arrived"})
    unrelated = await atomic.run("intent", {"text": "fee at the cash machine"})
    a = (await atomic.explain(second.run_id)).examples
    b = (await atomic.explain(third.run_id)).examples
    assert [e.run_id for e in a] == [first.run_id]
    assert [e.run_id for e in b] == [second.run_id]
    return History(
        first=first.run_id,
        first_feedback=fb1.id,
        second=second.run_id,
        second_feedback=fb2.id,
        third=third.run_id,
        unrelated=unrelated.run_id,
        example_a=a[0].example_id,
        example_b=b[0].example_id,
    )
