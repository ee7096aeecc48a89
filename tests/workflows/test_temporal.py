"""The Temporal runner against a real Temporal dev server (``tests/fixtures/temporal.py``).

Every test runs on its own task queue with instant ``FunctionModel`` models and an Atomic on a
SQLite file in its temporary folder; the crash test runs its workers as subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from atomic import Atomic, AtomicSettings, Task
from atomic._net import free_port
from atomic.errors import InvalidRequestError, RateLimitError, ServerError, WorkflowError
from atomic.models import FunctionModel, ModelRequest
from atomic.storage import RunStatus
from atomic.tasks import TaskCatalog
from atomic.workflows import TemporalRunner, TemporalStepOptions, _temporal_workflow, step, workflow
from atomic.workflows._temporal import activity_error
from atomic.workflows._temporal_workflow import AtomicWorkflow, atomic_sandbox, hosted
from tests.workflows import temporal_worker
from tests.workflows.temporal_worker import Job, relay

WORKER_SCRIPT = Path(temporal_worker.__file__)
ROOT = Path(__file__).resolve().parents[2]
ATOMIC_CLI = [sys.executable, "-c", "from atomic.cli import main; main()"]

FAST = TemporalStepOptions(
    start_to_close_timeout=timedelta(seconds=10),
    heartbeat_timeout=timedelta(seconds=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=100),
        backoff_coefficient=1.0,
        maximum_attempts=4,
    ),
)


class Note(BaseModel):
    text: str


class Echo(BaseModel):
    text: str


class Chain(BaseModel):
    texts: list[str]
    run_ids: list[str]


echo = Task("echo", input=Note, output=Echo, instructions="Repeat the text in capitals.")
shout = Task("shout", input=Note, output=Echo, instructions="Shout the text.")


@workflow(name="temporal-chain")
async def chain(note: Note) -> Chain:
    first = await step(echo, note)
    second = await step("echo", {"text": first.output.text + " b"})
    third = await step(echo, Note(text=second.output.text + " c"))
    steps = [first, second, third]
    return Chain(texts=[s.output.text for s in steps], run_ids=[s.run_id for s in steps])


@workflow(name="temporal-single")
async def single(note: Note) -> Echo:
    return (await step(echo, note)).output


def upper(request: ModelRequest) -> dict[str, Any]:
    return {"text": str((request.task_input or {})["text"]).upper()}


OpenAtomic = Callable[[FunctionModel], Awaitable[Atomic]]


@pytest.fixture
async def open_atomic(tmp_path: Path) -> AsyncIterator[OpenAtomic]:
    """Opens an Atomic on a SQLite file in tmp_path with the given model; closes it after."""
    opened: list[Atomic] = []

    async def open_with(model: FunctionModel) -> Atomic:
        settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
        atomic = await Atomic.open(settings, models=[model], tasks=[echo, shout])
        opened.append(atomic)
        return atomic

    yield open_with
    for atomic in opened:
        await atomic.aclose()


def queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_a_three_step_workflow_returns_its_typed_output_and_journals_each_step(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    atomic = await open_atomic(FunctionModel(upper, id="fn:upper"))
    workflow_id = f"chain-{uuid.uuid4().hex}"
    async with TemporalRunner(
        atomic, temporal_client, task_queue=queue(), workflows=[chain], step_options=FAST
    ) as runner:
        result = await runner.run(chain, {"text": "a"}, workflow_id=workflow_id)

    assert isinstance(result, Chain)
    assert result.texts == ["A", "A B", "A B C"]
    runs = [await atomic.get_run(run_id) for run_id in result.run_ids]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3
    assert [r.input for r in runs] == [{"text": "a"}, {"text": "A b"}, {"text": "A B c"}]
    assert {r.model_id for r in runs} == {"fn:upper"}
    # The steps were Temporal activities, each completed once, in this workflow's history.
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    completed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(completed) == 3
    assert [a.activity_type.name for a in scheduled] == ["atomic_step"] * 3
    assert [a.activity_id for a in scheduled] == ["1-echo", "2-echo", "3-echo"]


async def test_a_client_only_runner_starts_workflows_that_a_worker_elsewhere_runs(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    atomic = await open_atomic(FunctionModel(upper, id="fn:upper"))
    task_queue = queue()
    # A client with the SDK's default converter: the runner switches it to Pydantic payloads.
    config = temporal_client.config()
    config["data_converter"] = DataConverter.default
    plain = Client(**config)
    client_only = TemporalRunner(None, plain, task_queue=task_queue)
    assert client_only.client.data_converter is pydantic_data_converter
    workflow_id = await client_only.start(single, Note(text="hi"))
    with pytest.raises(WorkflowError, match="already running"):
        await client_only.start(single, Note(text="again"), workflow_id=workflow_id)
    async with TemporalRunner(atomic, temporal_client, task_queue=task_queue, workflows=[single]):
        assert await client_only.result(workflow_id, single) == Echo(text="HI")
    with pytest.raises(WorkflowError, match="no workflow with the id"):
        await client_only.result(f"missing-{uuid.uuid4().hex}", single)
    with pytest.raises(WorkflowError, match="cannot run a worker"):
        await client_only.__aenter__()


async def test_a_step_longer_than_the_heartbeat_timeout_lives_on_its_heartbeats(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    calls: list[ModelRequest] = []

    async def slow(request: ModelRequest) -> dict[str, Any]:
        calls.append(request)
        await asyncio.sleep(3.0)
        return upper(request)

    atomic = await open_atomic(FunctionModel(slow, id="fn:slow"))
    # One attempt, one second without a heartbeat allowed: only heartbeats sent while the
    # model works keep the three-second step alive.
    options = TemporalStepOptions(
        start_to_close_timeout=timedelta(seconds=30),
        heartbeat_timeout=timedelta(seconds=1),
        retry_policy=RetryPolicy(maximum_attempts=1),
    )
    async with TemporalRunner(
        atomic, temporal_client, task_queue=queue(), workflows=[single], step_options=options
    ) as runner:
        assert await runner.run(single, {"text": "patience"}) == Echo(text="PATIENCE")
    assert len(calls) == 1


async def test_retryable_errors_are_retried_by_temporal_and_a_rate_limit_waits(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    calls: list[float] = []

    def flaky(request: ModelRequest) -> dict[str, Any]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ServerError("upstream 503", model_id="fn:flaky", status=503)
        if len(calls) == 2:
            raise RateLimitError("slow down", model_id="fn:flaky", retry_after=1.5)
        return upper(request)

    atomic = await open_atomic(FunctionModel(flaky, id="fn:flaky"))
    async with TemporalRunner(
        atomic, temporal_client, task_queue=queue(), workflows=[single], step_options=FAST
    ) as runner:
        assert await runner.run(single, {"text": "ok"}) == Echo(text="OK")

    assert len(calls) == 3  # two failed attempts (one activity attempt each), then success
    # The retry policy alone would wait 0.1 s; the rate limit's retry_after set the delay.
    assert calls[2] - calls[1] >= 1.4
    failed = [r for r in await atomic.list_runs(limit=10) if r.status == RunStatus.FAILED]
    assert sorted(r.error_code or "" for r in failed) == [
        "model.rate_limited",
        "model.server_error",
    ]


async def test_a_non_retryable_error_fails_the_workflow_at_once_with_its_code(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    calls: list[ModelRequest] = []

    def refuses(request: ModelRequest) -> dict[str, Any]:
        calls.append(request)
        raise InvalidRequestError("prompt rejected", model_id="fn:refuses", status=400)

    atomic = await open_atomic(FunctionModel(refuses, id="fn:refuses"))
    workflow_id = f"refused-{uuid.uuid4().hex}"
    async with TemporalRunner(
        atomic, temporal_client, task_queue=queue(), workflows=[chain], step_options=FAST
    ) as runner:
        with pytest.raises(WorkflowError, match=r"model\.invalid_request") as raised:
            await runner.run(chain, {"text": "x"}, workflow_id=workflow_id)

    assert raised.value.context["cause_code"] == "model.invalid_request"
    assert len(calls) == 1  # FAST allows 4 attempts: none was spent on a hopeless retry
    described = await temporal_client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.FAILED


def test_atomic_errors_become_application_errors_temporal_retries_as_atomic_says() -> None:
    limited = activity_error(RateLimitError("429", model_id="m", retry_after=3.0))
    assert (limited.type, limited.non_retryable) == ("model.rate_limited", False)
    assert limited.next_retry_delay == timedelta(seconds=3)
    refused = activity_error(InvalidRequestError("400", model_id="m"))
    assert (refused.type, refused.non_retryable, refused.next_retry_delay) == (
        "model.invalid_request",
        True,
        None,
    )
    assert refused.details[0]["context"] == {"model_id": "m"}


@workflow(name="temporal-chain")
async def chain_that_shouts_second(note: Note) -> Chain:
    first = await step(echo, note)
    second = await step(shout, {"text": first.output.text + " b"})
    third = await step(echo, Note(text=second.output.text + " c"))
    steps = [first, second, third]
    return Chain(texts=[s.output.text for s in steps], run_ids=[s.run_id for s in steps])


def test_one_process_cannot_serve_two_different_workflows_under_one_name() -> None:
    catalog = TaskCatalog([echo, shout])
    registry = _temporal_workflow._hosted
    with hosted([chain], catalog, FAST), hosted([chain], catalog, FAST):  # the same twice: fine
        clash = hosted([single, chain_that_shouts_second], catalog, FAST)
        with pytest.raises(WorkflowError, match="two different workflows"):
            clash.__enter__()
        assert "temporal-single" not in registry  # the failed registration left nothing
        assert len(registry["temporal-chain"]) == 2
    assert "temporal-chain" not in registry


async def test_replaying_the_history_guards_the_workflows_determinism(
    temporal_client: Client, open_atomic: OpenAtomic
) -> None:
    atomic = await open_atomic(FunctionModel(upper, id="fn:upper"))
    workflow_id = f"replayed-{uuid.uuid4().hex}"
    async with TemporalRunner(
        atomic, temporal_client, task_queue=queue(), workflows=[chain], step_options=FAST
    ) as runner:
        await runner.run(chain, {"text": "r"}, workflow_id=workflow_id)
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(
        workflows=[AtomicWorkflow],
        workflow_runner=atomic_sandbox(),
        data_converter=pydantic_data_converter,
    )

    with hosted([chain], atomic.tasks, FAST):
        same = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert same.replay_failure is None

    # The same name with a step that calls another task: replaying the old history must
    # fail loudly, not silently hand the shout step the echo step's journaled result.
    with hosted([chain_that_shouts_second], atomic.tasks, FAST):
        changed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(changed.replay_failure, NondeterminismError)


def spawn(command: list[str], log: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` with its output appended to ``log`` (read it when a test fails)."""
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **options)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class WorkerProcess:
    """``temporal_worker.py`` in a subprocess, its output appended to ``log``."""

    def __init__(self, address: str, task_queue: str, home: Path, count_file: Path, log: Path):
        self.log = log
        command = [sys.executable, str(WORKER_SCRIPT), address, task_queue, str(home)]
        self.process = spawn([*command, str(count_file)], log)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no cleanup, no goodbye to the server
        self.process.wait()

    def stop(self) -> None:
        stop(self.process)


def executions(count_file: Path) -> list[str]:
    return count_file.read_text().splitlines()


async def wait_for_executions(
    count_file: Path, at_least: int, worker: WorkerProcess, timeout_s: float
) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while len(done := executions(count_file)) < at_least:
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"the worker ran {len(done)} steps, not {at_least} (exit code "
                f"{worker.process.poll()}):\n{worker.log.read_text(errors='replace')[-3000:]}",
                pytrace=False,
            )
        await asyncio.sleep(0.05)
    return done


async def test_a_killed_worker_is_replaced_and_every_workflow_completes_once(
    temporal_address: str, temporal_client: Client, tmp_path: Path
) -> None:
    task_queue = queue()
    home = tmp_path / "home"
    home.mkdir()
    count_file = tmp_path / "executions.log"
    count_file.touch()
    log = tmp_path / "workers.log"
    runner = TemporalRunner(None, temporal_client, task_queue=task_queue)
    names = [f"{task_queue}-wf{number}" for number in range(3)]
    ids = [await runner.start(relay, Job(name=name), workflow_id=name) for name in names]
    total = len(names) * temporal_worker.STEPS

    first = WorkerProcess(temporal_address, task_queue, home, count_file, log)
    try:
        # Four executions: at least one workflow is past its first step, so some steps are
        # journaled when the worker dies and others are not.
        await wait_for_executions(count_file, 4, first, timeout_s=240)
    finally:
        first.kill()
    at_kill = executions(count_file)
    assert len(at_kill) < total, "the worker finished everything before it was killed"

    second = WorkerProcess(temporal_address, task_queue, home, count_file, log)
    try:
        outputs = await asyncio.wait_for(
            asyncio.gather(*(runner.result(i, relay) for i in ids)), timeout=240
        )
    finally:
        second.stop()

    assert [o.texts for o in outputs] == [temporal_worker.expected(name) for name in names]
    counts = Counter(executions(count_file))
    assert set(counts) == {f"{n}:{s}" for n in names for s in range(temporal_worker.STEPS)}
    for name in names:
        logged = [line for line in at_kill if line.rpartition(":")[0] == name]
        for number in range(temporal_worker.STEPS):
            key = f"{name}:{number}"
            # Activities are at-least-once: a step whose model had answered when the worker
            # died, but whose completion had not reached Temporal, runs again on the new
            # worker. Steps run one after another, so only the last step the killed worker
            # logged for this workflow can be that one; every other step ran exactly once.
            allowed = {1, 2} if number == len(logged) - 1 else {1}
            assert counts[key] in allowed, f"{key} ran {counts[key]} times; at kill: {at_kill}"

    settings = temporal_worker.settings_for(home)
    async with await Atomic.open(settings, models=[], tasks=[temporal_worker.stamp]) as atomic:
        for name, output in zip(names, outputs, strict=True):
            runs = [await atomic.get_run(run_id) for run_id in output.run_ids]
            assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * temporal_worker.STEPS
            assert [r.input for r in runs] == [
                {"workflow": name, "step": s} for s in range(temporal_worker.STEPS)
            ]


async def test_the_worker_command_serves_workflows_and_their_modules_tasks(
    temporal_address: str, temporal_client: Client, tmp_path: Path
) -> None:
    task_queue = queue()
    log = tmp_path / "cli-worker.log"
    env = {
        **os.environ,
        "ATOMIC_HOME": str(tmp_path),
        "ATOMIC_LOCAL_MODELS": "[]",
        "ATOMIC_LEARNED_MODELS": "0",
    }
    command = [*ATOMIC_CLI, "worker", "--address", temporal_address, "--task-queue", task_queue]
    command += ["--workflows", "tests.workflows.temporal_worker:relay"]
    process = spawn(command, log, cwd=ROOT, env=env)
    try:
        runner = TemporalRunner(None, temporal_client, task_queue=task_queue)
        # The worker knows `relay` and its `stamp` task, but these settings register no model:
        # the step reaches the exchange and fails there, for good, with that code.
        with pytest.raises(WorkflowError) as raised:
            await asyncio.wait_for(runner.run(relay, Job(name="cli")), timeout=180)
        assert raised.value.context["cause_code"] == "exchange.no_eligible_model"
    finally:
        stop(process)
    output = log.read_text()
    assert "Serving relay on task queue" in output
    assert "Worker stopped." in output
    assert process.returncode == 0


async def test_temporal_dev_runs_the_installed_server_with_its_state_in_a_file(
    tmp_path: Path,
) -> None:
    port = free_port()
    db_file = tmp_path / "dev.db"
    command = [*ATOMIC_CLI, "temporal", "dev", "--port", str(port), "--ip", "127.0.0.1"]
    log = tmp_path / "dev.log"
    process = spawn([*command, "--db-file", str(db_file), "--headless"], log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            except RuntimeError:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                await asyncio.sleep(0.2)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
    finally:
        stop(process)
    assert db_file.stat().st_size > 0
    assert "server start-dev" in log.read_text()
