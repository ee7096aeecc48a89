"""A process for the embedded runner's crash test: it runs workflows until it is killed.

``start`` opens a runner and starts ``--workflows`` workflows of three steps, then waits for
them (the test kills it with SIGKILL on the way); ``resume`` opens a runner on the same
database, which recovers the pending workflows, waits for each and writes their outputs as
JSON to ``--results``.

Every step's model sleeps ``--step-seconds``, then appends the step's name to ``--count``:
after the model's work, so the file counts completed executions, one line each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, FunctionModel, Task
from atomic.models import ModelRequest
from atomic.workflows import EmbeddedRunner, step, workflow


class Note(BaseModel):
    text: str


class Shout(BaseModel):
    text: str


class Report(BaseModel):
    texts: list[str]
    run_ids: list[str]


shout = Task("shout", input=Note, output=Shout, instructions="Repeat the text in capitals.")


@workflow
async def three_shouts(note: Note) -> Report:
    texts: list[str] = []
    run_ids: list[str] = []
    for n in (1, 2, 3):
        said = await step(shout, {"text": f"{note.text}/{n}"})
        texts.append(said.output.text)
        run_ids.append(said.run_id)
    return Report(texts=texts, run_ids=run_ids)


def workflow_id(n: int) -> str:
    return f"crash-{n}"


async def main(args: argparse.Namespace) -> dict[str, Report]:
    count = os.open(args.count, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def answer(request: ModelRequest) -> dict[str, str]:
        text = str((request.task_input or {})["text"])
        await asyncio.sleep(args.step_seconds)
        os.write(count, f"{text}\n".encode())  # one write: a line is whole or absent
        return {"text": text.upper()}

    settings = AtomicSettings(
        home=args.home, database_url=args.database_url, local_models=[], learned_models=False
    )
    model = FunctionModel(answer, id="fn:shout")
    async with (
        await Atomic.open(settings, models=[model], tasks=[shout]) as atomic,
        EmbeddedRunner(atomic, [three_shouts]) as runner,
    ):
        ids = [workflow_id(n) for n in range(args.workflows)]
        if args.mode == "start":
            for n, wid in enumerate(ids):
                await runner.start(three_shouts, {"text": f"wf{n}"}, workflow_id=wid)
        return {wid: await runner.result(wid, three_shouts) for wid in ids}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("--home", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--workflows", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=0.4)
    arguments = parser.parse_args()
    reports = asyncio.run(main(arguments))
    Path(arguments.results).write_text(
        json.dumps({wid: report.model_dump() for wid, report in reports.items()})
    )
