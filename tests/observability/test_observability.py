"""Traces reach a real collector (Phoenix), metrics agree with the store, and each run is one
JSON log line: all three as subscribers of the call path's events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Sensitivity, Task
from atomic.errors import NoEligibleModelError, OutputValidationError
from atomic.models import FunctionModel, ModelRequest, Price, Residency, function_card
from atomic.observability import Metrics, Traces, configure_tracing
from tests.fixtures.phoenix import Phoenix


class Ticket(BaseModel):
    text: str


route = Task(
    "route",
    input=Ticket,
    output=Literal["billing", "cards"],
    instructions="Route the ticket.",
)
secret_route = Task(
    "secret-route",
    input=Ticket,
    output=Literal["billing", "cards"],
    instructions="Route the ticket.",
    sensitivity=Sensitivity.CONFIDENTIAL,
)


def _answer(request: ModelRequest) -> str:
    text = (request.task_input or {}).get("text", "")
    return '{"label": "nonsense"}' if "garbled" in text else '{"label": "cards"}'


@pytest.fixture
async def atomic(tmp_path: Path, store_url: str) -> AsyncIterator[Atomic]:
    settings = AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], learned_models=False,
        max_attempts=1,
    )  # fmt: skip
    local = FunctionModel(
        _answer, card=function_card("fn:local", price=Price(input_per_mtok=1.0, per_call=1e-4))
    )
    cloud = FunctionModel(
        _answer, card=function_card("fn:cloud", residency=Residency.CLOUD, price=Price(per_call=1))
    )
    async with await Atomic.open(
        settings, models=[local, cloud], tasks=[route, secret_route]
    ) as opened:
        yield opened


async def _traffic(atomic: Atomic) -> None:
    for i in range(3):
        await atomic.run(route, {"text": f"my card {i}"}, model="fn:local")
    with pytest.raises(OutputValidationError):
        await atomic.run(route, {"text": "garbled words"}, model="fn:local")
    with pytest.raises(NoEligibleModelError):
        await atomic.run(secret_route, {"text": "secret plans"}, model="fn:cloud")
    runs = await atomic.list_runs(limit=10)
    await atomic.record_feedback(runs[-1].id, "correct", source="human")


async def test_metrics_agree_with_the_store(atomic: Atomic) -> None:
    metrics = Metrics()
    atomic.exchange.events.subscribe(metrics)
    await _traffic(atomic)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    runs = await atomic.list_runs(limit=100)

    counted: dict[str, float] = {}
    for sample in families["atomic_runs"].samples:
        if sample.name == "atomic_runs_total":
            status = sample.labels["status"]
            counted[status] = counted.get(status, 0.0) + sample.value
    stored: dict[str, float] = {}
    for run in runs:
        stored[run.status.value] = stored.get(run.status.value, 0.0) + 1
    assert counted == stored == {"succeeded": 3, "failed": 1, "refused": 1}

    cost = sum(
        s.value for s in families["atomic_cost_usd"].samples if s.name == "atomic_cost_usd_total"
    )
    assert cost == pytest.approx(sum(r.cost_usd for r in runs))
    assert metrics.sample("atomic_exclusions_total", task="secret-route", reason="residency") == 1
    assert (
        metrics.sample("atomic_feedback_total", task="route", verdict="correct", source="human")
        == 1
    )
    tokens = [
        s for s in families["gen_ai_client_token_usage"].samples
        if s.name == "gen_ai_client_token_usage_count"
    ]  # fmt: skip
    assert {s.labels["gen_ai_token_type"] for s in tokens} == {"input", "output"}
    assert sum(s.value for s in tokens) == 2 * 4  # four model calls, input and output each
    assert (
        metrics.sample(
            "gen_ai_client_operation_duration_seconds_count",
            gen_ai_operation_name="chat",
            gen_ai_provider_name="fn",
            gen_ai_request_model="local",
            error_type="",
        )
        == 4
    )
    assert metrics.sample("atomic_auction_duration_seconds_count", task="route") == 4


async def test_each_run_is_one_json_log_line(
    atomic: Atomic, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="atomic.runs"):
        await _traffic(atomic)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "atomic.runs"]
    runs = {r.id: r for r in await atomic.list_runs(limit=10)}
    assert sorted(line["run_id"] for line in lines) == sorted(runs)
    records = [r for r in caplog.records if r.name == "atomic.runs"]
    for line, record in zip(lines, records, strict=True):
        run = runs[line["run_id"]]
        assert line["status"] == run.status.value
        assert line["cost_usd"] == pytest.approx(run.cost_usd)
        assert line["error_code"] == run.error_code
        assert record.levelno == (logging.INFO if run.status == "succeeded" else logging.WARNING)
        assert "my card" not in record.getMessage()  # no input or prompt text


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    assert configure_tracing() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_tracing() is None


def _by_run(spans: list[dict[str, Any]], run_id: str) -> dict[str, dict[str, Any]]:
    trace_ids = {
        s["context"]["trace_id"] for s in spans if s["attributes"].get("atomic.run_id") == run_id
    }
    return {s["name"]: s for s in spans if s["context"]["trace_id"] in trace_ids}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_spans_reach_a_real_collector_with_genai_attributes(
    atomic: Atomic, phoenix: Phoenix
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=phoenix.traces_endpoint))
    )
    atomic.exchange.events.subscribe(Traces(provider, capture_content=True))
    served = await atomic.run(route, {"text": "my card was declined"}, model="fn:local")
    with pytest.raises(NoEligibleModelError) as refused:
        await atomic.run(secret_route, {"text": "secret plans"}, model="fn:cloud")
    secret = await atomic.run(secret_route, {"text": "secret plans"}, model="fn:local")
    provider.force_flush()
    refused_id = refused.value.context["run_id"]
    spans = phoenix.wait_for(
        lambda found: all(
            len(_by_run(found, run_id)) >= n
            for run_id, n in ((served.run_id, 3), (refused_id, 2), (secret.run_id, 3))
        )
    )

    served_spans = _by_run(spans, served.run_id)
    run = served_spans["atomic.run route"]["attributes"]
    assert run["atomic.run_id"] == served.run_id
    assert run["atomic.tenant"] == "default"
    assert run["atomic.status"] == "succeeded"
    assert run["atomic.cost_usd"] == pytest.approx(served.cost_usd)
    auction = served_spans["atomic.auction"]["attributes"]
    assert auction["atomic.auction.winner"] == "fn:local"
    assert [b["model"] for b in json.loads(auction["atomic.auction.bids"])] == ["fn:local"]
    chat = served_spans["chat local"]["attributes"]
    assert chat["gen_ai.operation.name"] == "chat"
    assert chat["gen_ai.provider.name"] == "fn"
    assert chat["gen_ai.request.model"] == "local"
    assert "gen_ai.usage.input_tokens" in chat
    assert "my card was declined" in chat["gen_ai.input.messages"]  # content capture asked
    parent = served_spans["atomic.run route"]["context"]["span_id"]
    assert served_spans["chat local"]["parent_id"] == parent

    refused_auction = _by_run(spans, refused_id)["atomic.auction"]["attributes"]
    assert refused_auction["atomic.auction.exclusions.residency"] == 1
    refused_run = _by_run(spans, refused_id)["atomic.run secret-route"]
    assert refused_run["status_code"] == "ERROR"
    assert refused_run["attributes"]["error.type"] == "exchange.no_eligible_model"

    secret_chat = _by_run(spans, secret.run_id)["chat local"]["attributes"]
    assert "gen_ai.input.messages" not in secret_chat  # never for a confidential task
    assert not any("secret plans" in json.dumps(s) for s in _by_run(spans, secret.run_id).values())
