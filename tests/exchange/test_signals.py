"""What the exchange learns, and what it keeps: each test is a defect a user once saw.

Outages counted as wrong answers; outputs that merely validated counted as right; budgets,
latency history and posteriors lost with the process; concurrent processes losing updates;
runs left `running` for ever; refused calls leaving no trace; failed runs refusing the
correction they most need.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from atomic import Atomic, AtomicSettings, Sensitivity, Task, check
from atomic.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    FeedbackError,
    NoEligibleModelError,
    OutputValidationError,
    ServerError,
    TransportError,
)
from atomic.exchange import Budget, TaskPolicy, Utility
from atomic.models import FunctionModel, ModelRequest, Price, Residency, function_card
from atomic.storage import RunStatus, Store
from atomic.storage._tables import LearnerStateRow

ROOT = Path(__file__).resolve().parents[2]


class Question(BaseModel):
    text: str


priority = Task(
    "priority",
    input=Question,
    output=Literal["low", "medium", "high"],
    instructions="How urgent is the request?",
    value_usd=0.01,
)


@check
def _says_the_number(question: Question, answer: str) -> bool:
    "the answer must be a label the question mentions"
    return answer in question.text


mentioned = Task(
    "mentioned",
    input=Question,
    output=Literal["low", "medium", "high"],
    instructions="Which label does the question mention?",
    checks=[_says_the_number],
)

secret = Task(
    "secret",
    input=Question,
    output=Literal["low", "medium", "high"],
    instructions="How urgent is the request?",
    sensitivity=Sensitivity.CONFIDENTIAL,
)


def _settings(tmp_path: Path, store_url: str, **extra: object) -> AtomicSettings:
    return AtomicSettings(
        home=tmp_path,
        database_url=store_url,
        local_models=[],
        learned_models=False,
        max_attempts=1,
        **extra,
    )


def _model(model_id: str, fn: Callable[[ModelRequest], str], **card: object) -> FunctionModel:
    return FunctionModel(fn, card=function_card(model_id, **card))


async def _open(settings: AtomicSettings, *models: FunctionModel) -> Atomic:
    return await Atomic.open(settings, models=models, tasks=[priority, mentioned, secret], seed=1)


def _fails_with(error: Exception) -> Callable[[ModelRequest], str]:
    def fail(request: ModelRequest) -> str:
        raise error

    return fail


async def test_outages_do_not_move_quality_posteriors(tmp_path: Path, store_url: str) -> None:
    down = TransportError("connection refused", model_id="fn:flaky")
    errors = [
        down,
        ServerError("502 bad gateway", model_id="fn:flaky", status=502),
        AuthenticationError("invalid api key", model_id="fn:flaky", status=401),
        ContextWindowExceededError("prompt too long", model_id="fn:flaky", status=400),
    ]
    calls = {"n": 0}

    def flaky(request: ModelRequest) -> str:
        calls["n"] += 1
        if calls["n"] <= len(errors):
            raise errors[calls["n"] - 1]
        return '{"label": "high"}'

    flaky_model = _model("fn:flaky", flaky, quality_prior=0.62)
    backup = _model("fn:backup", lambda r: '{"label": "low"}', price=Price(per_call=0.01))
    key = ("default", "priority", "fn:flaky")
    async with await _open(_settings(tmp_path, store_url), flaky_model, backup) as atomic:
        before = atomic.exchange.learner.estimate(key, flaky_model.card, None)
        for i in range(len(errors)):
            await atomic.run(priority, {"text": f"request {i}"}, models=["fn:flaky", "fn:backup"])
            atomic.exchange.health._breakers.clear()  # keep the flaky model bidding
        after = atomic.exchange.learner.estimate(key, flaky_model.card, None)
        runs = await atomic.list_runs(limit=10)
        assert {r.model_id for r in runs} == {"fn:backup"}  # every call cascaded
    assert after == before  # four outages later, not one outcome counted
    assert after.source == "no correctness feedback yet: prior 0.62 × validity prior"
    async with await _open(_settings(tmp_path, store_url), flaky_model, backup) as reopened:
        assert reopened.exchange.learner.estimate(key, flaky_model.card, None) == before


async def test_a_refused_window_is_learned_by_eligibility(tmp_path: Path, store_url: str) -> None:
    small = _model(
        "fn:small",
        _fails_with(ContextWindowExceededError("too long", model_id="fn:small", status=400)),
    )
    backup = _model("fn:backup", lambda r: '{"label": "low"}', price=Price(per_call=0.01))
    async with await _open(_settings(tmp_path, store_url), small, backup) as atomic:
        text = {"text": "word " * 400}
        await atomic.run(priority, text)
        again = await atomic.run(priority, text)
        record = await atomic.explain(again.run_id)
    [excluded] = [e for e in record.exclusions if e.model_id == "fn:small"]
    assert excluded.code == "context_window"
    assert "as its server said" in excluded.reason


async def test_valid_outputs_alone_never_lift_p_correct_above_the_prior(
    tmp_path: Path, store_url: str
) -> None:
    # Constrained decoding makes every label valid; "my mouse wheel is broken" is still not
    # `high`. Only feedback can say so.
    always_high = _model("fn:high", lambda r: '{"label": "high"}', quality_prior=0.6)
    async with await _open(_settings(tmp_path, store_url), always_high) as atomic:
        for i in range(25):
            result = await atomic.run(priority, {"text": f"my mouse wheel is broken ({i})"})
        bid = (await atomic.explain(result.run_id)).bid("fn:high")
        assert bid is not None
        assert bid.p_success <= 0.6
        assert bid.p_source.startswith("no correctness feedback yet: prior 0.60 × validity")
        [shown] = (await atomic.task_status("priority")).estimates  # `atomic task show`
        assert shown.model_id == "fn:high"
        assert shown.source.startswith("no correctness feedback yet: prior 0.60 × validity")
        await atomic.record_feedback(result.run_id, "incorrect", source="human")
        judged = await atomic.run(priority, {"text": "my mouse wheel is broken again"})
        after = (await atomic.explain(judged.run_id)).bid("fn:high")
    assert after is not None
    assert after.p_success < bid.p_success
    assert after.p_source.startswith("correctness")


async def test_authoritative_checks_count_as_correctness(tmp_path: Path, store_url: str) -> None:
    echo = _model("fn:echo", lambda r: '{"label": "low"}', quality_prior=0.5)
    strict = Task(
        "strict",
        input=Question,
        output=Literal["low", "medium", "high"],
        instructions="Which label does the question mention?",
        checks=[_says_the_number],
        authoritative_checks=True,
    )
    settings = _settings(tmp_path, store_url)
    async with await Atomic.open(settings, models=[echo], tasks=[strict]) as atomic:
        for i in range(10):
            await atomic.run(strict, {"text": f"low {i}"})
        estimate = atomic.exchange.learner.estimate(("default", "strict", "fn:echo"), None, None)
    assert estimate.source.startswith("correctness 0.9")
    assert "(10 judgements)" in estimate.source


async def test_expected_cost_comes_from_the_output_type(tmp_path: Path, store_url: str) -> None:
    # $1 per million output tokens: half of max_output_tokens (256) would be $0.000128, over
    # the cap; a three-label answer is a handful of tokens.
    priced = _model("fn:priced", lambda r: '{"label": "low"}', price=Price(output_per_mtok=1.0))
    async with await _open(_settings(tmp_path, store_url), priced) as atomic:
        result = await atomic.run(priority, {"text": "hello"}, max_cost_usd=0.00005)
        bid = (await atomic.explain(result.run_id)).bid("fn:priced")
    assert bid is not None
    assert bid.output_tokens < 20
    assert bid.output_tokens_source.startswith("typical label output")


async def test_budget_spend_survives_a_restart_and_is_shared(
    tmp_path: Path, store_url: str
) -> None:
    dear = _model("fn:dear", lambda r: '{"label": "low"}', price=Price(per_call=0.001))
    settings = _settings(tmp_path, store_url, state_refresh_s=0.0)
    budget = Budget(amount_usd=0.0025, window_s=86_400.0)
    policy = TaskPolicy(objective=Utility(value_usd=1.0))
    first = await _open(settings, dear)
    second = await _open(settings, dear)
    try:
        for atomic in (first, second):
            atomic.exchange.configure("priority", policy, budget=budget)
            atomic.exchange.pacer("priority").allowance = 1.0  # type: ignore[union-attr]
        await first.run(priority, {"text": "a"})
        await second.run(priority, {"text": "b"})  # sees the first process's spend
        spent = second.exchange.pacer("priority").spent  # type: ignore[union-attr]
        assert spent == pytest.approx(0.002)
    finally:
        await first.aclose()
        await second.aclose()
    async with await _open(settings, dear) as restarted:
        restarted.exchange.configure("priority", policy, budget=budget)
        with pytest.raises(NoEligibleModelError, match="budget"):
            await restarted.run(priority, {"text": "c"})  # $0.0005 left, not the whole budget


async def test_latency_history_survives_a_restart(tmp_path: Path, store_url: str) -> None:
    async def slowish(request: ModelRequest) -> str:
        await asyncio.sleep(0.02)
        return '{"label": "low"}'

    model = _model("fn:slowish", lambda r: "", latency_prior_ms=5000.0)
    model = FunctionModel(slowish, card=model.card)
    settings = _settings(tmp_path, store_url)
    async with await _open(settings, model) as atomic:
        for i in range(5):
            await atomic.run(priority, {"text": f"q{i}"})
    async with await _open(settings, model) as reopened:
        result = await reopened.run(priority, {"text": "q"})
        bid = (await reopened.explain(result.run_id)).bid("fn:slowish")
    assert bid is not None
    assert bid.latency_source == "history: 5 calls"
    assert 15 < bid.latency_p50_ms < 1000


def _worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.exchange.signal_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_concurrent_processes_lose_no_update(store_url: str) -> None:
    processes, calls = 4, 25
    workers = [_worker("concurrent", store_url, str(calls)) for _ in range(processes)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
    store = await Store.open(store_url)
    try:
        async with store.engine.connect() as connection:
            [state] = (await connection.execute(select(LearnerStateRow.state))).scalars().all()
    finally:
        await store.close()
    assert state["validity"]["n"] == processes * calls
    assert state["correct"]["n"] == processes * calls
    assert len(state["history"]["latency_ms"]) == processes * calls


async def test_a_killed_process_leaves_an_abandoned_run_with_its_auction(
    tmp_path: Path, store_url: str
) -> None:
    started = tmp_path / "started"
    worker = _worker("hang", store_url, "1.0", str(started))
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the worker never started its call"
            await asyncio.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=30)  # reaps it and closes its pipes
    await asyncio.sleep(1.2)  # the lease runs out
    async with await Atomic.open(_settings(tmp_path, store_url), tasks=[priority]) as atomic:
        [run] = await atomic.list_runs()
        record = await atomic.explain(run.id)
    assert run.status == RunStatus.ABANDONED
    assert run.error_code == "run.abandoned"
    assert record.winner == "fn:hangs"


async def test_an_interrupted_call_is_abandoned_at_once(tmp_path: Path, store_url: str) -> None:
    started = asyncio.Event()

    async def never(request: ModelRequest) -> str:
        started.set()
        await asyncio.sleep(3600)
        return '{"label": "low"}'

    model = FunctionModel(never, card=function_card("fn:never"))
    async with await _open(_settings(tmp_path, store_url), model) as atomic:
        call = asyncio.create_task(atomic.run(priority, {"text": "q"}))
        await started.wait()
        call.cancel()  # what Ctrl-C does to the call under asyncio.run
        with pytest.raises(asyncio.CancelledError):
            await call
        [run] = await atomic.list_runs()
    assert run.status == RunStatus.ABANDONED


async def test_a_refused_call_is_a_stored_run_with_its_exclusions(
    tmp_path: Path, store_url: str
) -> None:
    cloud = _model("fn:cloud", lambda r: '{"label": "low"}', residency=Residency.CLOUD)
    async with await _open(_settings(tmp_path, store_url), cloud) as atomic:
        with pytest.raises(NoEligibleModelError) as caught:
            await atomic.run(secret, {"text": "our merger plans"}, model="fn:cloud")
        run_id = caught.value.context["run_id"]
        run = await atomic.get_run(run_id)
        record = await atomic.explain(run_id)
        listed = await atomic.list_runs()
    assert run.status == RunStatus.REFUSED
    assert run.error_code == "exchange.no_eligible_model"
    assert [(e.model_id, e.code) for e in record.exclusions] == [("fn:cloud", "residency")]
    assert record.winner is None
    assert [r.id for r in listed] == [run_id]


async def test_a_failed_run_accepts_a_correction_that_passes_the_checks(
    tmp_path: Path, store_url: str
) -> None:
    wrong = _model("fn:wrong", lambda r: '{"label": "high"}')
    async with await _open(_settings(tmp_path, store_url), wrong) as atomic:
        with pytest.raises(OutputValidationError) as caught:
            await atomic.run(mentioned, {"text": "this one is low"})
        run_id = caught.value.context["run_id"]
        assert (await atomic.get_run(run_id)).status == RunStatus.FAILED
        with pytest.raises(FeedbackError, match="nothing to judge"):
            await atomic.record_feedback(run_id, "incorrect")
        with pytest.raises(FeedbackError, match="check _says_the_number") as rejected:
            await atomic.record_feedback(run_id, "corrected", output="medium")
        assert rejected.value.errors == [
            "check _says_the_number: the answer must be a label the question mentions"
        ]
        accepted = await atomic.record_feedback(run_id, "corrected", output="low")
        memory = atomic.adaptation.memory("default", "mentioned")
        remembered = [r.output for r in memory]
        judged = atomic.exchange.learner.estimate(("default", "mentioned", "fn:wrong"), None, None)
    assert accepted.kind == "corrected"
    assert remembered == ["low"]  # the most valuable example there is
    # Its invalid output was counted when it ran; the correction blames no model again.
    assert "no correctness feedback yet" in judged.source
