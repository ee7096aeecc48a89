"""How well the inbox did on a batch: per step, who won, what it cost, how long it took, and
how often it was right against the expected answers."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from atomic.apps.inbox._emails import LabelledEmail
from atomic.apps.inbox._rules import decide_route
from atomic.apps.inbox._tasks import EmailFacts
from atomic.apps.inbox._workflow import STEP_NAMES, Handled

__all__ = [
    "FACT_FIELDS",
    "BatchScore",
    "FieldScore",
    "Outcome",
    "StepScore",
    "percentile",
    "score_batch",
]

FACT_FIELDS = ("customer_name", "amounts", "dates", "card_last_four", "merchant", "references")


@dataclass
class Outcome:
    """One email of the batch: what the workflow returned, or why it failed."""

    email: LabelledEmail
    handled: Handled | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class StepScore:
    """One step over the batch."""

    name: str
    task: str
    succeeded: int = 0
    failed: int = 0
    winners: Counter[str] = field(default_factory=Counter)
    costs: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    correct: int = 0
    scored: int = 0
    quality: str = "-"
    """The step's own measure of being right, as shown (accuracy, or precision/recall)."""

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None

    @property
    def mean_cost_usd(self) -> float:
        return sum(self.costs) / len(self.costs) if self.costs else 0.0

    def shares(self) -> list[tuple[str, float]]:
        total = sum(self.winners.values())
        return [(m, n / total) for m, n in self.winners.most_common()] if total else []


@dataclass
class FieldScore:
    """One fact field: true and false positives, misses (micro-averaged over the emails)."""

    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class BatchScore:
    steps: dict[str, StepScore]
    fields: dict[str, FieldScore]
    handled: int
    failed: int
    facts_exact: int = 0
    facts_scored: int = 0

    @property
    def facts_total(self) -> FieldScore:
        total = FieldScore("all fields")
        for f in self.fields.values():
            total.tp, total.fp, total.fn = total.tp + f.tp, total.fp + f.fp, total.fn + f.fn
        return total


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _fact_values(facts: EmailFacts, name: str) -> set[Any]:
    """A field's values, normalised so that equal facts compare equal."""
    value = getattr(facts, name)
    if name == "amounts":
        return {(round(m.value, 2), m.currency) for m in facts.amounts}
    if name == "dates":
        return {d.isoformat() for d in facts.dates}
    items = value if isinstance(value, list) else [] if value is None else [value]
    return {" ".join(str(v).casefold().split()) for v in items}


def _ratio(good: int, total: int) -> str:
    return f"{good / total:.0%} ({good}/{total})" if total else "-"


def score_batch(outcomes: Sequence[Outcome]) -> BatchScore:
    """Every step's winners, costs, latencies and correctness over the handled emails."""
    tasks = {"intent": "banking77-intent", "facts": "email-facts"}
    steps = {n: StepScore(n, tasks.get(n, n)) for n in STEP_NAMES}
    fields = {n: FieldScore(n) for n in FACT_FIELDS}
    score = BatchScore(steps, fields, handled=0, failed=0)
    for outcome in outcomes:
        handled = outcome.handled
        if handled is None:
            score.failed += 1
            continue
        score.handled += 1
        for name, trace in handled.steps.items():
            step = steps[name]
            step.task = trace.task
            if trace.error is not None:
                step.failed += 1
                continue
            step.succeeded += 1
            step.winners[trace.model_id or "-"] += 1
            step.costs.append(trace.cost_usd)
            step.latencies_ms.append(trace.latency_ms)
        _score_answers(score, outcome.email, handled)
    facts = score.facts_total
    steps["facts"].quality = (
        f"P {_fmt(facts.precision)} · R {_fmt(facts.recall)} · "
        f"all exact {_ratio(score.facts_exact, score.facts_scored)}"
    )
    for name in ("intent", "urgency", "sentiment", "route"):
        steps[name].quality = _ratio(steps[name].correct, steps[name].scored)
    drafted = steps["reply"]
    drafted.quality = "drafted " + _ratio(drafted.succeeded, drafted.succeeded + drafted.failed)
    return score


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _score_answers(score: BatchScore, email: LabelledEmail, handled: Handled) -> None:
    expected = email.expected
    checks: list[tuple[str, Any, Any]] = [("intent", expected.intent, handled.intent)]
    if expected.urgency is not None:
        checks.append(("urgency", expected.urgency, handled.urgency))
    if expected.sentiment is not None:
        checks.append(("sentiment", expected.sentiment, handled.sentiment))
    if expected.urgency is not None and expected.sentiment is not None:
        # The right queue is the rules' answer on the right labels: this scores the whole
        # chain up to routing, not the rules themselves.
        right = decide_route(expected.intent, expected.urgency, expected.sentiment)
        checks.append(("route", right.queue, handled.route.queue))
    for name, want, got in checks:
        step = score.steps[name]
        step.scored += 1
        step.correct += int(want == got)
    if expected.facts is not None:
        _score_facts(score, expected.facts, handled.facts)


def _score_facts(score: BatchScore, want: EmailFacts, got: EmailFacts) -> None:
    exact = True
    for name, field_score in score.fields.items():
        wanted, found = _fact_values(want, name), _fact_values(got, name)
        field_score.tp += len(wanted & found)
        field_score.fp += len(found - wanted)
        field_score.fn += len(wanted - found)
        exact = exact and wanted == found
    score.facts_scored += 1
    score.facts_exact += int(exact)
