"""``atomic explain``: an auction as a table and one sentence in plain words."""

from __future__ import annotations

import json

from rich.console import Group
from rich.table import Table
from rich.text import Text

from atomic.exchange import AuctionRecord

from ._render import format_cost

__all__ = ["explain_sentence", "explain_view"]


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


def explain_view(record: AuctionRecord) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
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
    head.add_row("winner", f"{record.winner} (propensity {record.propensity:.3f})")
    margin = "-" if record.margin is None else f"{record.margin:.6g}"
    head.add_row("runner-up", f"{record.runner_up or '-'} (margin {margin})")
    budget = (
        ""
        if record.budget_remaining_usd is None
        else f", {format_cost(record.budget_remaining_usd)} left"
    )
    head.add_row("pacing", f"× {record.pacing_multiplier:.3f}{budget}")

    bids = Table(title="Bids", title_justify="left")
    for column in ("#", "model", "P(success)", "draw", "cost", "latency p50/p95", "score"):
        bids.add_column(column, justify="left" if column == "model" else "right")
    bids.add_column("from")
    for bid in record.bids:
        style = "bold green" if bid.model_id == record.winner else ""
        bids.add_row(
            str(bid.rank),
            Text(bid.model_id, style=style),
            f"{bid.p_success:.3f} ± {bid.p_std:.3f}",
            f"{bid.p_draw:.3f}",
            format_cost(bid.cost_usd),
            f"{bid.latency_p50_ms:,.0f}/{bid.latency_p95_ms:,.0f} ms",
            f"{bid.score:.6g}" + ("" if bid.feasible else " (infeasible)"),
            f"p: {bid.p_source}; tokens: {bid.input_tokens_source}, "
            f"{bid.output_tokens_source}; latency: {bid.latency_source}",
        )
    parts: list[Table | Text] = [head, bids]
    if record.exclusions:
        excluded = Table(title="Excluded", title_justify="left")
        excluded.add_column("model")
        excluded.add_column("why")
        for exclusion in record.exclusions:
            excluded.add_row(exclusion.model_id, f"{exclusion.reason} [{exclusion.code}]")
        parts.append(excluded)
    if record.cascade:
        cascade = Table(title="Attempts", title_justify="left")
        for column in ("model", "outcome", "attempts", "cost", "latency"):
            cascade.add_column(column)
        for step in record.cascade:
            cascade.add_row(
                step.model_id,
                Text(step.outcome, style="green" if step.outcome == "succeeded" else "red"),
                str(step.attempts),
                format_cost(step.cost_usd),
                f"{step.latency_ms:,.0f} ms",
            )
        parts.append(cascade)
    if record.examples:
        shown = Table(
            title="Remembered examples in the prompt (closest last)", title_justify="left"
        )
        for column in ("example", "similarity", "output", "source", "learned from"):
            shown.add_column(column)
        for use in record.examples:
            output = json.dumps(use.output, ensure_ascii=False)
            shown.add_row(
                use.example_id,
                f"{use.similarity:.2f}",
                output if len(output) <= 60 else output[:57] + "...",
                use.source,
                use.run_id or "",
            )
        parts.append(shown)
    parts.append(Text(explain_sentence(record), style="bold"))
    return Group(*parts)
