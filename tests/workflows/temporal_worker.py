"""A Temporal worker process for the crash test, and the workflow it serves.

```
python tests/workflows/temporal_worker.py ADDRESS TASK_QUEUE HOME COUNT_FILE
```

It serves ``relay``: three sequential steps of the ``stamp`` task, whose model takes a moment
and then appends one line, ``<workflow>:<step>``, to COUNT_FILE for every execution, so the
test can count how often each step really ran. Atomic's store is the SQLite file in HOME,
shared by every worker the test starts. The worker prints ``ready`` once it polls, and runs
until SIGTERM (or SIGKILL, which is the point).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio.common import RetryPolicy

from atomic import Atomic, AtomicSettings, Task
from atomic.models import FunctionModel, ModelRequest
from atomic.workflows import (
    TemporalRunner,
    TemporalStepOptions,
    connect_temporal,
    step,
    workflow,
)

STEPS = 3
MODEL_DELAY_S = 1.0

# Short timeouts so a step of a killed worker is retried within seconds: the heartbeat
# timeout notices the dead worker, start-to-close bounds a step that never heartbeats.
CRASH_OPTIONS = TemporalStepOptions(
    start_to_close_timeout=timedelta(seconds=10),
    heartbeat_timeout=timedelta(seconds=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=10),
)


class Leg(BaseModel):
    workflow: str
    step: int


class Stamp(BaseModel):
    text: str


class Job(BaseModel):
    name: str


class Relayed(BaseModel):
    texts: list[str]
    run_ids: list[str]


stamp = Task("stamp", input=Leg, output=Stamp, instructions="Stamp the leg.")


@workflow(name="relay")
async def relay(job: Job) -> Relayed:
    texts: list[str] = []
    run_ids: list[str] = []
    for number in range(STEPS):
        done = await step(stamp, Leg(workflow=job.name, step=number))
        texts.append(done.output.text)
        run_ids.append(done.run_id)
    return Relayed(texts=texts, run_ids=run_ids)


def expected(name: str) -> list[str]:
    """The texts ``relay`` returns for the job ``name``."""
    return [f"{name}:{number}" for number in range(STEPS)]


def settings_for(home: Path) -> AtomicSettings:
    return AtomicSettings(home=home, local_models=[], learned_models=False)


def _append(path: Path, line: str) -> None:
    # One short write in append mode: lines from concurrent steps never interleave.
    with path.open("a") as out:
        out.write(line + "\n")


def slow_stamp(count_file: Path) -> FunctionModel:
    """A model that takes a moment, then logs the execution and answers ``<workflow>:<step>``."""

    async def answer(request: ModelRequest) -> dict[str, str]:
        leg = Leg.model_validate(request.task_input)
        await asyncio.sleep(MODEL_DELAY_S)
        text = f"{leg.workflow}:{leg.step}"
        _append(count_file, text)
        return {"text": text}

    return FunctionModel(answer, id="fn:slow-stamp")


async def serve(address: str, task_queue: str, home: Path, count_file: Path) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = await connect_temporal(address)
    models = [slow_stamp(count_file)]
    async with (
        await Atomic.open(settings_for(home), models=models, tasks=[stamp]) as atomic,
        TemporalRunner(
            atomic, client, task_queue=task_queue, workflows=[relay], step_options=CRASH_OPTIONS
        ),
    ):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    address, task_queue, home, count_file = sys.argv[1:5]
    asyncio.run(serve(address, task_queue, Path(home), Path(count_file)))
