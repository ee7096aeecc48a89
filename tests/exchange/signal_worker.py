"""A process that runs calls of one task against a shared database, for the tests of state
shared between processes (run with ``python -m tests.exchange.signal_worker``).

``concurrent URL M``: M calls at once on an instant model whose checks are authoritative,
then exit. ``hang URL LEASE STARTED``: one call on a model that never answers, after writing
the file STARTED; the test kills the process.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Task
from atomic.models import FunctionModel, ModelRequest, function_card


class Question(BaseModel):
    text: str


judged = Task(
    "judged",
    input=Question,
    output=Literal["yes", "no"],
    instructions="Answer yes or no.",
    authoritative_checks=True,
)


def _settings(url: str, **extra: object) -> AtomicSettings:
    return AtomicSettings(
        home=Path(tempfile.mkdtemp(prefix="atomic-worker-")),
        database_url=url,
        local_models=[],
        learned_models=False,
        **extra,
    )


async def concurrent(url: str, calls: int) -> None:
    model = FunctionModel(lambda r: '{"label": "yes"}', card=function_card("fn:shared"))
    async with await Atomic.open(_settings(url), models=[model], tasks=[judged]) as atomic:
        await asyncio.gather(*(atomic.run(judged, {"text": f"q{i}"}) for i in range(calls)))


async def hang(url: str, lease_s: float, started: Path) -> None:
    async def never(request: ModelRequest) -> str:
        started.write_text("started")  # noqa: ASYNC240 - a marker for the test, once
        await asyncio.sleep(3600)
        return '{"label": "yes"}'

    model = FunctionModel(never, card=function_card("fn:hangs"))
    settings = _settings(url, run_lease_s=lease_s)
    async with await Atomic.open(settings, models=[model], tasks=[judged]) as atomic:
        await atomic.run(judged, {"text": "will this ever end?"})


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "concurrent":
        asyncio.run(concurrent(url, int(rest[0])))
    else:
        asyncio.run(hang(url, float(rest[0]), Path(rest[1])))
