"""``atomic whatif``: another objective's correctness and cost on the traffic already logged."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any

import typer

from atomic.views._table import Column, fit_table, print_fitted

from ._output import console, emit_json

if TYPE_CHECKING:
    from atomic.exchange._whatif import WhatIf

__all__ = ["whatif"]

_ENOUGH = 30
"""An effective sample size below this makes the estimate a guess, and the table says so."""


def _estimate(estimate: Any, money: bool) -> str:
    if estimate is None or estimate.snips is None:
        return "no agreeing run"
    if money:
        return f"${estimate.snips:.6f} ± {estimate.snips_stderr or 0:.6f}"
    return f"{estimate.snips:.1%} ± {estimate.snips_stderr or 0:.1%}"


def view(result: WhatIf, width: int, wide: bool) -> Any:
    logged = f"{result.logged_correctness:.1%}" if result.logged_correctness is not None else "-"
    rows = [
        ["logged policy", logged, f"${result.logged_cost_usd:.6f}", "-", f"{result.runs:,}"],
        [
            "what if",
            _estimate(result.correctness, False),
            _estimate(result.cost, True),
            f"{result.cost.effective_n:,.0f}" if result.cost else "-",
            f"{result.cost.matched:,}" if result.cost else "0",
        ],
    ]
    columns = [
        Column("policy", primary=True),
        Column("correctness", primary=True, justify="right"),
        Column("cost per call", primary=True, justify="right"),
        Column("effective n", drop=2, justify="right"),
        Column("runs agreeing", drop=1, justify="right"),
    ]
    params = ", ".join(f"{k}={v}" for k, v in result.objective.items() if k != "kind")
    title = f"What if: {result.objective['kind']}({params}) on {result.runs:,} logged runs"
    return fit_table(columns, rows, width=width, title=title, wide=wide)


def whatif(
    task: Annotated[str, typer.Argument(help="Task name (see `atomic tasks`).")],
    objective: Annotated[
        str,
        typer.Option(
            "--objective", "-o", help="utility, min_cost or max_quality: the policy to estimate."
        ),
    ] = "utility",
    value: Annotated[
        float | None,
        typer.Option("--value", help="utility: what a correct answer is worth, in USD."),
    ] = None,
    floor: Annotated[
        float, typer.Option("--floor", help="min_cost: the P(correct) a bid must reach.")
    ] = 0.8,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="max_quality: the cost cap per call.")
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            min=0,
            help="Also under this budget (USD per --budget-window), paced as the exchange "
            "paces one.",
            show_default=False,
        ),
    ] = None,
    budget_window: Annotated[
        float, typer.Option("--budget-window", min=1, help="The budget's window, in seconds.")
    ] = 86_400.0,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only runs since then: 2026-12-01, 24h, 7d."),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, nothing cut.")] = False,
) -> None:
    """Estimate the correctness and cost a task's logged traffic would have had under another
    objective, value or budget, from the propensities every auction logs (self-normalised
    IPS, with its standard error and effective sample size). Correctness needs feedback on
    the runs."""
    from atomic.cli._app import _open, _run, _settings
    from atomic.cli._output import parse_since
    from atomic.exchange import Budget
    from atomic.exchange._whatif import objective_named

    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        target = objective_named(objective, value, floor, max_cost)
        paced = None if budget is None else Budget(amount_usd=budget, window_s=budget_window)
        async with await _open(settings, restore=False) as atomic:
            when = parse_since(since) if since else None
            result = await atomic.what_if(task, target, since=when, budget=paced)
        if as_json:
            emit_json(dataclasses.asdict(result))
            return
        print_fitted(console, view(result, console.width, wide))
        backing = result.cost.effective_n if result.cost else 0.0
        if backing < _ENOUGH:
            console.print(
                f"Only about {backing:.0f} logged runs back this estimate: the logged policy "
                "seldom chose what this one would. Explore more (exploration > 0) or log more "
                "traffic before trusting it."
            )

    _run(body, as_json=as_json)
