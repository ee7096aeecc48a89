"""``atomic lineage``: where a run's answer came from, or every run one example influenced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from atomic.views._explain import format_cost
from atomic.views._table import Column, fit_table, print_fitted

from ._output import console, emit_json
from ._render import Fitted, format_price, short

if TYPE_CHECKING:
    from atomic.lineage import ExampleUsed, Influence, Lineage, RunNode

__all__ = ["influence_table", "lineage", "lineage_tree"]

_OUTPUT_WIDTH = 30


def _run_label(run: RunNode) -> Text:
    label = Text.assemble(("run ", "bold"), (run.id, "bold cyan"))
    label.append(f" {run.task_name} v{run.task_version} · {run.status}", style="dim")
    return label


def _model_line(run: RunNode) -> Text:
    line = Text.assemble("model ", (run.model_id or "none", "green"))
    if run.winner is not None and run.winner != run.model_id:
        line.append(f" (auction won by {run.winner})")
    if run.propensity is not None:
        line.append(f" · propensity {run.propensity:.2f}", style="dim")
    if run.price is not None:
        from atomic.models import Price

        line.append(f" · {format_price(Price.model_validate(run.price))}", style="dim")
    return line


def _classifier_line(run: RunNode) -> Text | None:
    c = run.classifier
    if c is None:
        return None
    version = f"v{c.version}" if c.version is not None else "version unknown"
    now = ""
    if c.current_version is not None:
        now = f" (now v{c.current_version}, trained on {c.trained_on} examples)"
    return Text(f"classifier {version}{now}")


def _example_label(use: ExampleUsed) -> Text:
    label = Text.assemble(("example ", "bold"), (use.example_id, "magenta"))
    label.append(f" · similarity {use.similarity:.2f} · {use.source}", style="dim")
    if not use.remembered:
        label.append(" · since replaced", style="yellow")
    return label


def _add_run(tree: Tree, run: RunNode, lineage: Lineage, shown: set[str]) -> None:
    if run.id in shown:
        tree.add(Text.assemble(_run_label(run), (" (shown above)", "dim")))
        return
    shown.add(run.id)
    branch = tree.add(_run_label(run))
    branch.add(_model_line(run))
    classifier = _classifier_line(run)
    if classifier is not None:
        branch.add(classifier)
    branch.add(Text(f"output {short(run.output, _OUTPUT_WIDTH)} · {format_cost(run.cost_usd)}"))
    for feedback in run.feedback:
        line = Text.assemble(("feedback ", "bold"), (feedback.id, "yellow"))
        line.append(f" {feedback.kind}")
        if feedback.kind == "corrected":
            line.append(f" → {short(feedback.output, _OUTPUT_WIDTH)}")
        line.append(f" ({feedback.source})", style="dim")
        if feedback.superseded_by is not None:
            line.append(" (superseded)", style="dim")
        branch.add(line)
    for use in run.examples:
        _add_example(branch, use, lineage, shown)


def _add_example(tree: Tree, use: ExampleUsed, lineage: Lineage, shown: set[str]) -> None:
    branch = tree.add(_example_label(use))
    if use.feedback_id is not None:
        branch.add(Text.assemble("made by feedback ", (use.feedback_id, "yellow")))
    if use.source_run_id is None:
        branch.add(Text("remembered directly, from no run", style="dim"))
        return
    source = lineage.run(use.source_run_id)
    if source is None:
        where = "beyond --depth" if lineage.truncated else "not stored"
        branch.add(Text.assemble("from run ", (use.source_run_id, "cyan"), (f" ({where})", "dim")))
        return
    _add_run(branch, source, lineage, shown)


def lineage_tree(lineage: Lineage) -> RenderableType:
    """A run's provenance as a tree: the run, its model and output, its feedback, then each
    example in its prompt and the run and feedback that made it, recursively."""
    runs = len(lineage.runs)
    hops = max(r.depth for r in lineage.runs)
    title = Text(f"Lineage of {lineage.run_id}", style="bold")
    summary = f"{runs} run{'s' * (runs != 1)}, {hops} hop{'s' * (hops != 1)} of examples back"
    tree = Tree(title, guide_style="dim")
    _add_run(tree, lineage.root, lineage, set())
    parts: list[RenderableType] = [tree, Text(summary, style="dim")]
    if lineage.truncated:
        hops_asked = f"{lineage.max_depth} hop{'s' * (lineage.max_depth != 1)}"
        parts.append(Text(f"History goes on past {hops_asked}: raise --depth."))
    return Group(*parts)


def influence_table(influence: Influence, width: int, wide: bool = False) -> Fitted:
    """Every run an example influenced, nearest first."""
    columns = [
        Column("run", primary=True),
        Column("hops", primary=True, justify="right"),
        Column("task", flex=8, drop=2),
        Column("model", flex=10, drop=3),
        Column("status", drop=4),
        Column("via example", drop=1),
    ]
    rows = [
        [
            r.run_id,
            str(r.depth),
            r.task_name,
            r.model_id or "-",
            r.status,
            "this one" if r.depth == 1 else r.via_example,
        ]
        for r in influence.runs
    ]
    total = len(influence.runs)
    title = (
        f"Example {influence.example_id} influenced {total} run{'s' * (total != 1)}, "
        f"{influence.direct} directly"
    )
    return fit_table(columns, rows, width=width, title=title, wide=wide)


def _influence_json(influence: Influence) -> dict[str, Any]:
    return {
        **influence.model_dump(mode="json"),
        "direct": influence.direct,
        "total": len(influence.runs),
        "by_depth": {str(d): n for d, n in sorted(influence.by_depth.items())},
    }


def lineage(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id (see `atomic runs`).", show_default=False)
    ] = None,
    example: Annotated[
        str | None,
        typer.Option(
            "--example",
            help="Instead: every run this remembered example influenced (its blast radius).",
            show_default=False,
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=1,
            help="Hops of examples to follow (default: 3 back from a run, 5 on from an example).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="PROV-JSON for a run; JSON for --example.")
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, nothing cut.")] = False,
) -> None:
    """Show where a run's answer came from: its auction, model, task version, the
    remembered examples in its prompt, and the runs and feedback that made them, hop by hop.
    With --example ID: every run that example influenced, directly or through examples
    learned from those runs. --json prints a W3C PROV-JSON document for a run."""
    from atomic.cli._app import _open, _run, _settings

    if (run_id is None) == (example is None):
        raise typer.BadParameter("give a RUN_ID or --example ID (one of them)")
    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        from atomic.lineage import to_prov

        async with await _open(settings, restore=False) as atomic:
            if example is not None:
                found = await atomic.influence(example, depth=depth or 5)
            else:
                assert run_id is not None
                graph = await atomic.lineage(run_id, depth=depth or 3)
        if example is not None:
            _print_influence(found, as_json, wide)
        elif as_json:
            emit_json(to_prov(graph))
        else:
            console.print(lineage_tree(graph), soft_wrap=False)

    _run(body, as_json=as_json)


def _print_influence(found: Influence, as_json: bool, wide: bool) -> None:
    if as_json:
        emit_json(_influence_json(found))
        return
    if not found.runs:
        console.print(f"No run has used example {found.example_id} yet.")
    else:
        print_fitted(console, influence_table(found, console.width, wide))
        counts = ", ".join(f"{n} at {d} hop{'s' * (d != 1)}" for d, n in found.by_depth.items())
        console.print(f"[dim]{counts}[/dim]")
    if found.source_run_ids:
        console.print(f"[dim]Learned from: {', '.join(found.source_run_ids)}[/dim]")
    if found.truncated:
        hops = f"{found.max_depth} hop{'s' * (found.max_depth != 1)}"
        console.print(f"Influence goes on past {hops}: raise --depth.")
