"""The embedded runner on DBOS, on SQLite and PostgreSQL: journaled steps, retries, failures,
and recovery after the process is killed (``crash_worker.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from dbos import DBOS, DBOSClient

from atomic import Atomic, AtomicSettings, FunctionModel
from atomic.errors import (
    AtomicError,
    ConfigError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    WorkflowError,
)
from atomic.models import ModelRequest
from atomic.storage import RunRecord
from atomic.workflows import EmbeddedRunner, step, workflow
from atomic.workflows._embedded import _JournalSerializer, system_database_url
from tests.workflows.crash_worker import Note, Report, shout, three_shouts

WORKER = Path(__file__).with_name("crash_worker.py")


@workflow
async def one_shout(note: Note) -> str:
    return (await step(shout, note)).output.text


class ShoutModel:
    """Answers at once, counting calls; ``errors`` are raised instead, one per call, first."""

    def __init__(self, *errors: AtomicError) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, float]] = []

    def __call__(self, request: ModelRequest) -> dict[str, str]:
        text = str((request.task_input or {})["text"])
        self.calls.append((text, time.monotonic()))
        if self.errors:
            raise self.errors.pop(0)
        return {"text": text.upper()}

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.calls]


def _settings(tmp_path: Path, store_url: str) -> AtomicSettings:
    return AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], learned_models=False
    )


@asynccontextmanager
async def _atomic(tmp_path: Path, store_url: str, model: ShoutModel) -> AsyncIterator[Atomic]:
    fn = FunctionModel(model, id="fn:shout")
    async with await Atomic.open(_settings(tmp_path, store_url), models=[fn], tasks=[shout]) as a:
        yield a


async def _shout_runs(atomic: Atomic) -> list[RunRecord]:
    return await atomic.list_runs(limit=100, task="shout")


async def test_a_workflow_journals_each_step_and_returns_its_typed_output(
    tmp_path: Path, store_url: str
) -> None:
    model = ShoutModel()
    async with _atomic(tmp_path, store_url, model) as atomic:
        async with EmbeddedRunner(atomic, [three_shouts]) as runner:
            report = await runner.run(three_shouts, Note(text="hi"), workflow_id="wf-1")
            assert isinstance(report, Report)
            assert report.texts == ["HI/1", "HI/2", "HI/3"]
            steps = await DBOS.list_workflow_steps_async("wf-1")
            # The same id again is the same run: its journaled output, no model call.
            assert await runner.run(three_shouts, {"text": "hi"}, workflow_id="wf-1") == report
        assert [s["function_name"] for s in steps] == ["shout"] * 3
        assert [s["output"]["run_id"] for s in steps] == report.run_ids
        assert model.texts == ["hi/1", "hi/2", "hi/3"]
        runs = {run.id: run for run in await _shout_runs(atomic)}
        assert set(runs) == set(report.run_ids)
        assert all(r.status == "succeeded" and r.model_id == "fn:shout" for r in runs.values())
        assert [runs[i].output for i in report.run_ids] == [{"text": t} for t in report.texts]

        # A second runner in the same process reads the outcome back from the journal.
        async with EmbeddedRunner(atomic, [three_shouts, one_shout]) as runner:
            assert await runner.result("wf-1", three_shouts) == report
            started = await runner.start(one_shout, {"text": "yo"})
            assert await runner.result(started, one_shout) == "YO"
        assert model.texts == ["hi/1", "hi/2", "hi/3", "yo"]


async def test_closing_the_runner_suspends_a_workflow_and_the_next_runner_resumes_it(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    hanging = asyncio.Event()

    async def answer(request: ModelRequest) -> dict[str, str]:
        text = str((request.task_input or {})["text"])
        calls.append(text)
        if text == "slow/2" and calls.count(text) == 1:
            hanging.set()
            try:
                await asyncio.sleep(3600)  # until the runner closes
            except asyncio.CancelledError:
                calls.append("cancelled")
                raise
        return {"text": text.upper()}

    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'atomic.db'}")
    fn = FunctionModel(answer, id="fn:shout")
    async with await Atomic.open(settings, models=[fn], tasks=[shout]) as atomic:
        async with EmbeddedRunner(atomic, [three_shouts]) as runner:
            started = await runner.start(three_shouts, {"text": "slow"})
            await asyncio.wait_for(hanging.wait(), 60)
        async with EmbeddedRunner(atomic, [three_shouts]) as runner:
            report = await asyncio.wait_for(runner.result(started, three_shouts), 60)
    assert report.texts == ["SLOW/1", "SLOW/2", "SLOW/3"]
    assert calls == ["slow/1", "slow/2", "cancelled", "slow/2", "slow/3"]


async def test_a_retryable_error_is_retried_and_the_workflow_completes(
    tmp_path: Path, store_url: str
) -> None:
    model = ShoutModel(ServerError("upstream 503", model_id="fn:shout", status=503))
    async with (
        _atomic(tmp_path, store_url, model) as atomic,
        EmbeddedRunner(atomic, [three_shouts], retry_delay_s=0.01) as runner,
    ):
        report = await runner.run(three_shouts, {"text": "again"})
        runs = await _shout_runs(atomic)
    assert report.texts == ["AGAIN/1", "AGAIN/2", "AGAIN/3"]
    assert model.texts == ["again/1", "again/1", "again/2", "again/3"]
    failed = [r for r in runs if r.status == "failed"]
    assert [(r.input, r.error_code) for r in failed] == [
        ({"text": "again/1"}, "model.server_error")
    ]
    assert {r.id for r in runs if r.status == "succeeded"} == set(report.run_ids)


async def test_a_rate_limit_is_retried_after_the_delay_it_asks_for(tmp_path: Path) -> None:
    model = ShoutModel(RateLimitError("slow down", model_id="fn:shout", retry_after=0.5))
    async with (
        _atomic(tmp_path, f"sqlite:///{tmp_path / 'atomic.db'}", model) as atomic,
        EmbeddedRunner(atomic, [one_shout], retry_delay_s=0.01) as runner,
    ):
        assert await runner.run(one_shout, {"text": "hi"}) == "HI"
    (first, t0), (second, t1) = model.calls
    assert first == second == "hi"
    assert t1 - t0 >= 0.5


async def test_retries_are_bounded(tmp_path: Path) -> None:
    errors = [ServerError(f"upstream 503 #{n}", model_id="fn:shout") for n in range(5)]
    model = ShoutModel(*errors)
    async with (
        _atomic(tmp_path, f"sqlite:///{tmp_path / 'atomic.db'}", model) as atomic,
        EmbeddedRunner(atomic, [one_shout], max_attempts=3, retry_delay_s=0.01) as runner,
    ):
        with pytest.raises(ServerError, match="#2") as caught:
            await runner.run(one_shout, {"text": "hi"})
    assert len(model.calls) == 3
    assert caught.value.context["step_attempts"] == 3


async def test_a_non_retryable_error_fails_the_workflow_at_once(
    tmp_path: Path, store_url: str
) -> None:
    model = ShoutModel(InvalidRequestError("the prompt is malformed", model_id="fn:shout"))
    async with (
        _atomic(tmp_path, store_url, model) as atomic,
        EmbeddedRunner(atomic, [three_shouts], retry_delay_s=0.01) as runner,
    ):
        with pytest.raises(InvalidRequestError, match="malformed") as caught:
            await runner.run(three_shouts, {"text": "bad"}, workflow_id="wf-bad")
        # Read back from the journal: the same error type, code and context.
        with pytest.raises(InvalidRequestError) as journaled:
            await runner.result("wf-bad", three_shouts)
        status = await DBOS.get_workflow_status_async("wf-bad")
    assert model.texts == ["bad/1"]
    for error in (caught.value, journaled.value):
        assert error.code == "model.invalid_request"
        assert error.model_id == "fn:shout"
        assert {
            k: error.context[k] for k in ("workflow", "workflow_id", "task", "step_attempts")
        } == {
            "workflow": "three_shouts",
            "workflow_id": "wf-bad",
            "task": "shout",
            "step_attempts": 1,
        }
    assert status is not None
    assert status.status == "ERROR"


async def test_misuse_is_a_clear_error(tmp_path: Path) -> None:
    model = ShoutModel()
    async with _atomic(tmp_path, f"sqlite:///{tmp_path / 'atomic.db'}", model) as atomic:
        runner = EmbeddedRunner(atomic, [three_shouts, one_shout])
        with pytest.raises(WorkflowError, match="not open"):
            await runner.run(one_shout, {"text": "x"})
        with pytest.raises(WorkflowError, match="two workflows are named"):
            EmbeddedRunner(atomic, [one_shout, workflow(name="one_shout")(one_shout.fn)])
        async with runner:
            with pytest.raises(WorkflowError, match="another EmbeddedRunner is open"):
                async with EmbeddedRunner(atomic, [one_shout]):
                    pass
            solo = workflow(name="solo")(one_shout.fn)
            with pytest.raises(WorkflowError, match="'solo' is not registered"):
                await runner.start(solo, {"text": "x"})
            with pytest.raises(WorkflowError, match="no workflow has the id 'nope'"):
                await runner.result("nope", one_shout)
            await runner.run(one_shout, {"text": "x"}, workflow_id="wf-one")
            with pytest.raises(WorkflowError, match="is a run of 'one_shout', not of 'three"):
                await runner.run(three_shouts, {"text": "x"}, workflow_id="wf-one")
    assert model.texts == ["x"]
    with pytest.raises(ConfigError, match="cannot keep its journal"):
        system_database_url("sqlite+aiosqlite://")


# The crash test: a worker process is killed with SIGKILL in the middle of its workflows,
# then started again to recover them.

N_WORKFLOWS = 3
KILL_AFTER_LINES = 4  # of 9 step executions: some done, some under way, some not begun


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@contextmanager
def _worker(mode: str, tmp_path: Path, store_url: str) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / f"worker-{mode}.log").open("wb")
    args = [sys.executable, str(WORKER), mode, "--home", str(tmp_path), "--database-url"]
    args += [store_url, "--count", str(tmp_path / "count"), "--results", str(tmp_path / "out")]
    proc = subprocess.Popen([*args, "--workflows", str(N_WORKFLOWS)], stdout=log, stderr=log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def _log(tmp_path: Path, mode: str) -> str:
    return (tmp_path / f"worker-{mode}.log").read_text()[-3000:]


def _journal(url: str) -> dict[str, list[str]]:
    """The steps each workflow has journaled, as the texts their models answered."""
    client = DBOSClient(system_database_url=url, serializer=_JournalSerializer())
    try:
        return {
            f"crash-{n}": [
                s["output"]["output"]["text"].lower()
                for s in client.list_workflow_steps(f"crash-{n}")
            ]
            for n in range(N_WORKFLOWS)
        }
    finally:
        client.destroy()


async def test_workflows_resume_after_the_process_is_killed(tmp_path: Path, store_url: str) -> None:
    count = tmp_path / "count"
    with _worker("start", tmp_path, store_url) as proc:
        deadline = time.monotonic() + 120
        while len(_lines(count)) < KILL_AFTER_LINES:
            assert proc.poll() is None, f"the worker died:\n{_log(tmp_path, 'start')}"
            assert time.monotonic() < deadline, f"no progress:\n{_log(tmp_path, 'start')}"
            await asyncio.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    at_kill = Counter(_lines(count))
    journaled = await asyncio.to_thread(_journal, system_database_url(store_url))
    assert KILL_AFTER_LINES <= at_kill.total() < 3 * N_WORKFLOWS, "killed too late to test"

    with _worker("resume", tmp_path, store_url) as proc:
        assert await asyncio.to_thread(proc.wait, 180) == 0, _log(tmp_path, "resume")
    reports = {
        k: Report.model_validate(v) for k, v in json.loads((tmp_path / "out").read_text()).items()
    }
    executed = Counter(_lines(count))

    for n in range(N_WORKFLOWS):
        wid, steps = f"crash-{n}", [f"wf{n}/{k}" for k in (1, 2, 3)]
        assert reports[wid].texts == [s.upper() for s in steps]
        # Journaled before the kill: replayed, never run again.
        assert journaled[wid] == steps[: len(journaled[wid])]
        assert all(executed[s] == 1 for s in journaled[wid]), (wid, executed)
        # DBOS steps run at least once: one whose model answered but whose result was not
        # journaled before the kill (at most one per workflow, as steps run in sequence)
        # runs again. Every other step ran exactly once.
        again = [s for s in steps if executed[s] != 1]
        assert all(executed[s] == 2 and at_kill[s] == 1 for s in again), (wid, executed)
        assert len(again) <= 1, (wid, executed)

    # The store holds a succeeded run for each step the workflows returned, and no more
    # runs than model executions.
    async with _atomic(tmp_path, store_url, ShoutModel()) as atomic:
        runs = {r.id: r for r in await _shout_runs(atomic) if r.status == "succeeded"}
    returned = {i: t for r in reports.values() for i, t in zip(r.run_ids, r.texts, strict=True)}
    assert {i: runs[i].output["text"] for i in returned} == returned
    assert len(returned) <= len(runs) <= executed.total()
