"""An auction as a table and one sentence in plain words: ``atomic explain``, and the
dashboard's explanation of a run, read the same."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from atomic.views._table import Column, fit_table

if TYPE_CHECKING:
    from atomic.exchange import AuctionRecord

__all__ = ["explain_sentence", "explain_view", "format_cost"]


def format_cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:.4f}"


def explain_sentence(record: AuctionRecord) -> str:
    """Which model won, on what, and what the runner-up would have cost or risked."""
    if record.winner is None:
        return "No model could bid: " + "; ".join(
            f"{e.model_id} ({e.reason})" for e in record.exclusions
        )
    win = record.bid(record.winner)
    assert win is not None
    kind = record.objective["kind"]
    basis = {
        "utility": "the highest expected value net of cost",
        "min_cost": f"the lowest cost with P(success) ≥ {record.objective.get('floor')}",
        "max_quality": "the highest P(success) within the caps",
    }.get(kind, kind)
    sentence = (
        f"{record.winner} won on {basis}: P(success) {win.p_success:.2f} "
        f"(drawn {win.p_draw:.2f}) at an expected {format_cost(win.cost_usd)}"
    )
    if record.runner_up is not None:
        ru = record.bid(record.runner_up)
        assert ru is not None
        if win.cost_usd > 0 and ru.cost_usd > 0:
            ratio = ru.cost_usd / win.cost_usd
            price = f"{ratio:.1f}× the cost ({format_cost(ru.cost_usd)})"
        else:
            price = format_cost(ru.cost_usd)
        sentence += (
            f"; the runner-up {record.runner_up} would have cost {price} "
            f"for P(success) {ru.p_success:.2f}"
        )
    if record.served_by and record.served_by != record.winner:
        sentence += f". The winner failed; {record.served_by} served the call"
    elif record.served_by is None and record.cascade:
        sentence += ". Every model tried failed"
    return sentence + "."


def explain_view(record: AuctionRecord, width: int = 80, wide: bool = False) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    params = ", ".join(
        f"{k}={v}" for k, v in record.objective.items() if k != "kind" and v is not None
    )
    head.add_row("run", record.run_id)
    head.add_row("task", record.task_name)
    head.add_row("objective", f"{record.objective['kind']}({params})")
    head.add_row("value", f"{format_cost(record.value_usd)} per correct answer")
    head.add_row(
        "exploration",
        f"{record.exploration:g} ({'contextual' if record.contextual else 'per task'})",
    )
    if record.winner is None:
        head.add_row("winner", "none: no model was eligible, the call was refused")
    else:
        head.add_row("winner", f"{record.winner} (propensity {record.propensity:.3f})")
    margin = "-" if record.margin is None else f"{record.margin:.6g}"
    head.add_row("runner-up", f"{record.runner_up or '-'} (margin {margin})")
    budget = (
        ""
        if record.budget_remaining_usd is None
        else f", {format_cost(record.budget_remaining_usd)} left"
    )
    head.add_row("pacing", f"× {record.pacing_multiplier:.3f}{budget}")
    parts: list[RenderableType] = [head]

    def add(columns: list[Column], rows: list[list[str | Text]], title: str) -> None:
        parts.append(Text(""))
        parts.append(fit_table(columns, rows, width=width, title=title, wide=wide)[0])

    if record.bids:
        add(
            [
                Column("#", primary=True, justify="right"),
                Column("model", primary=True),
                Column("P(success)", primary=True, justify="right"),
                Column("cost", primary=True, justify="right"),
                Column("score", drop=3, justify="right"),
                Column("draw", drop=5, justify="right"),
                Column("latency p50/p95", drop=4, justify="right"),
                Column("from", flex=16, wrap=True, drop=2),
            ],
            [
                [
                    str(bid.rank),
                    Text(bid.model_id, style="bold green" if bid.model_id == record.winner else ""),
                    f"{bid.p_success:.3f} ± {bid.p_std:.3f}",
                    format_cost(bid.cost_usd),
                    f"{bid.score:.6g}" + ("" if bid.feasible else " (infeasible)"),
                    f"{bid.p_draw:.3f}",
                    f"{bid.latency_p50_ms:,.0f}/{bid.latency_p95_ms:,.0f} ms",
                    f"p: {bid.p_source}; tokens: {bid.input_tokens_source}, "
                    f"{bid.output_tokens_source}; latency: {bid.latency_source}",
                ]
                for bid in record.bids
            ],
            "Bids",
        )
    if record.exclusions:
        add(
            [Column("model", primary=True), Column("why", primary=True, flex=20, wrap=True)],
            [[e.model_id, f"{e.reason} [{e.code}]"] for e in record.exclusions],
            "Excluded",
        )
    if record.cascade:
        add(
            [
                Column("model", primary=True),
                Column("outcome", primary=True),
                Column("attempts", drop=3, justify="right"),
                Column("cost", drop=2, justify="right"),
                Column("latency", drop=1, justify="right"),
            ],
            [
                [
                    step.model_id,
                    Text(step.outcome, style="green" if step.outcome == "succeeded" else "red"),
                    str(step.attempts),
                    format_cost(step.cost_usd),
                    f"{step.latency_ms:,.0f} ms",
                ]
                for step in record.cascade
            ],
            "Attempts",
        )
    if record.examples:
        add(
            [
                Column("example", primary=True),
                Column("similarity", primary=True, justify="right"),
                Column("output", primary=True, flex=12),
                Column("source", drop=2),
                Column("learned from", drop=3),
            ],
            [
                [
                    use.example_id,
                    f"{use.similarity:.2f}",
                    json.dumps(use.output, ensure_ascii=False),
                    use.source,
                    use.run_id or "",
                ]
                for use in record.examples
            ],
            "Remembered examples in the prompt (closest last)",
        )
    parts.append(Text(""))
    parts.append(Text(explain_sentence(record), style="bold"))
    return Group(*parts)
