"""Prometheus metrics, fed by the call path's events.

Names follow Prometheus conventions (``atomic_*``), and the two GenAI client metrics keep the
OpenTelemetry semantic-convention names with dots as underscores (``gen_ai_client_token_usage``,
``gen_ai_client_operation_duration_seconds``). Under several worker processes set
``PROMETHEUS_MULTIPROC_DIR`` to a shared empty folder: every worker writes its samples there and
a scrape of any worker sums them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from atomic.events import (
    AttemptFinished,
    AuctionCleared,
    BreakerChanged,
    BudgetPaced,
    Event,
    FeedbackApplied,
    RunRefused,
    RunSettled,
    StepFinished,
)
from atomic.models import parse_model_id

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_AUCTION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
_BREAKER = {"closed": 0.0, "half_open": 0.5, "open": 1.0}


class Metrics:
    """The exchange's metrics on one registry; subscribe the instance to an event bus.

    ```python
    metrics = Metrics()
    atomic.exchange.events.subscribe(metrics)
    print(metrics.render().decode())
    ```
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "atomic_runs", "Runs by task, winning model and status.",
            ["tenant", "task", "model", "status"], registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "atomic_cost_usd", "What runs cost, in USD.", ["tenant", "task", "model"], registry=r
        )
        self.run_duration = Histogram(
            "atomic_run_duration_seconds", "A run from auction to settlement.",
            ["task", "status"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.auction_duration = Histogram(
            "atomic_auction_duration_seconds", "Eligibility, bids and clearing of one call.",
            ["task"], buckets=_AUCTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.exclusions = Counter(
            "atomic_exclusions", "Models excluded from auctions, by reason.",
            ["task", "reason"], registry=r,
        )  # fmt: skip
        self.cascades = Counter(
            "atomic_cascades", "Runs in which more than one model was tried.", ["task"], registry=r
        )
        self.feedback = Counter(
            "atomic_feedback", "Feedback accepted, by verdict and source.",
            ["task", "verdict", "source"], registry=r,
        )  # fmt: skip
        self.spend = Gauge(
            "atomic_budget_spend_usd", "Spend in the budget's current window.",
            ["tenant", "task"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.pacing = Gauge(
            "atomic_pacing_multiplier", "The budget pacer's multiplier on expected cost.",
            ["tenant", "task"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.breaker = Gauge(
            "atomic_breaker_state", "A model's circuit breaker: 0 closed, 0.5 half-open, 1 open.",
            ["model"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.steps = Counter(
            "atomic_workflow_steps", "Tries of workflow steps, by workflow, task and outcome.",
            ["workflow", "task", "status"], registry=r,
        )  # fmt: skip
        self.tokens = Histogram(
            "gen_ai_client_token_usage", "Tokens used per model call (GenAI conventions).",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
             "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS, registry=r,
        )  # fmt: skip
        self.operation = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Duration of one model call (GenAI conventions).",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
             "error_type"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip

    def __call__(self, event: Event) -> None:
        if isinstance(event, (AuctionCleared, RunRefused)):
            task = event.run.task_name
            self.auction_duration.labels(task).observe(event.auction_ms / 1000)
            for exclusion in event.record.exclusions:
                self.exclusions.labels(task, exclusion.code).inc()
            if isinstance(event, RunRefused):
                self._count_run(event.run.tenant, task, "", "refused", event.run.cost_usd)
        elif isinstance(event, AttemptFinished):
            self._count_attempt(event)
        elif isinstance(event, RunSettled):
            run = event.run
            status = run.status.value
            self._count_run(run.tenant, run.task_name, run.model_id or "", status, run.cost_usd)
            self.run_duration.labels(run.task_name, status).observe(run.latency_ms / 1000)
            if len(event.record.cascade) > 1:
                self.cascades.labels(run.task_name).inc()
        elif isinstance(event, FeedbackApplied):
            feedback = event.feedback
            self.feedback.labels(feedback.task_name, feedback.kind, feedback.source).inc()
        elif isinstance(event, BudgetPaced):
            self.spend.labels(event.tenant, event.task_name).set(event.spent_usd)
            self.pacing.labels(event.tenant, event.task_name).set(event.multiplier)
        elif isinstance(event, BreakerChanged):
            self.breaker.labels(event.model_id).set(_BREAKER.get(event.state, 0.0))
        elif isinstance(event, StepFinished):
            status = "failed" if event.error_code else "succeeded"
            self.steps.labels(event.workflow, event.task_name, status).inc()

    def _count_run(self, tenant: str, task: str, model: str, status: str, cost: float) -> None:
        self.runs.labels(tenant, task, model, status).inc()
        if cost:
            self.cost.labels(tenant, task, model).inc(cost)

    def _count_attempt(self, event: AttemptFinished) -> None:
        attempt = event.attempt
        provider, name = parse_model_id(attempt.model_id)
        error = attempt.error.code if attempt.error else ""
        self.operation.labels("chat", provider, name, error).observe(attempt.latency_ms / 1000)
        if attempt.response is not None:
            usage = attempt.response.usage
            self.tokens.labels("chat", provider, name, "input").observe(usage.input_tokens)
            self.tokens.labels("chat", provider, name, "output").observe(usage.output_tokens)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format (every worker's, in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            combined = CollectorRegistry()
            MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            return generate_latest(combined)
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the metrics at ``http://host:port/metrics`` from a background thread (for
        library use; ``atomic serve`` has its own ``/metrics``)."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)

    def sample(self, name: str, **labels: Any) -> float:
        """One sample's value (0 when absent), for tests and summaries."""
        value = self.registry.get_sample_value(name, {k: str(v) for k, v in labels.items()})
        return float(value or 0.0)
