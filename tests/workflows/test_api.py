"""The workflow API on the direct runner."""

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.errors import WorkflowError
from atomic.models import FunctionModel
from atomic.workflows import DirectRunner, step, workflow


class Note(BaseModel):
    text: str


class Routed(BaseModel):
    mood: str
    queue: str
    run_ids: list[str]


mood = Task("mood", input=Note, output=Literal["happy", "sad"], instructions="How do they feel?")


@workflow
async def route(note: Note) -> Routed:
    first = await step(mood, note)
    second = await step("mood", {"text": note.text + "!"})
    queue = "care" if first.output == "sad" else "thanks"
    return Routed(mood=first.output, queue=queue, run_ids=[first.run_id, second.run_id])


async def test_a_workflow_runs_its_steps_through_the_exchange(tmp_path: Path) -> None:
    model = FunctionModel(lambda r: {"label": "sad"}, id="fn:mood")
    settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
    async with await Atomic.open(settings, models=[model], tasks=[mood]) as atomic:
        routed = await DirectRunner(atomic).run(route, {"text": "my card is lost"})
        assert routed.mood == "sad"
        assert routed.queue == "care"
        runs = [await atomic.get_run(run_id) for run_id in routed.run_ids]
    assert [r.model_id for r in runs] == ["fn:mood", "fn:mood"]
    assert runs[1].input == {"text": "my card is lost!"}
    assert route.name == "route"
    assert route.input_type is Note


async def test_step_outside_a_workflow_and_bad_definitions_are_clear_errors() -> None:
    with pytest.raises(WorkflowError, match="outside a running workflow"):
        await step("mood", {"text": "x"})

    with pytest.raises(WorkflowError, match="async function"):

        @workflow
        def not_async(note: Note) -> str:  # type: ignore[type-var]
            return note.text

    with pytest.raises(WorkflowError, match="Pydantic model"):

        @workflow
        async def untyped(note):  # type: ignore[no-untyped-def]
            return note
