"""The routing benchmark's tables: every policy side by side, then the online run and IPS."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["policy_table", "side_tables"]


def _usd(value: float) -> str:
    return f"${value:.5f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _row(table: Table, name: str, config: str, policy: dict[str, Any], *, scored: bool) -> None:
    table.add_row(
        name,
        config,
        f"{policy['accuracy']:.3f}",
        _usd(policy["cost_usd"]),
        _share(policy.get("cost_save")) if scored else "",
        f"{policy['aiq']:.3f}" if scored else "",
    )


def policy_table(report: dict[str, Any]) -> Table:
    """One row per policy or configuration; CostSave and AIQ per policy (over a family's
    configurations for the kNN router and the warm exchange)."""
    data = report["data"]
    table = Table(
        title=f"Routing on RouterBench test ({data['test_rows']} prompts, "
        f"{len(data['models'])} models; learner warm from {data['train_rows']} train rows)",
        caption="CostSave: largest cost cut keeping the best single model's accuracy "
        "(— = never reaches it). AIQ: area under the non-decreasing convex hull, "
        f"normalised over ${report['cost_range']['c_min']:.5f}–"
        f"${report['cost_range']['c_max']:.5f}.",
    )
    for column in ("policy", "configuration", "accuracy", "$/query", "CostSave", "AIQ"):
        table.add_column(
            column, justify="left" if column in ("policy", "configuration") else "right"
        )
    for name, policy in sorted(report["singles"].items(), key=lambda kv: kv[1]["cost_usd"]):
        _row(table, name, "single model", policy, scored=True)
    table.add_section()
    for name, policy in report["baselines"].items():
        _row(table, name, policy["config"], policy, scored=True)
    families = (
        ("kNN router", report["knn"]["configs"], f"k={report['knn']['k']}"),
        *(
            (name, family["configs"], family.get("chain", "per dataset"))
            for name, family in report.get("per_task", {}).items()
        ),
        ("exchange (warm)", report["exchange"]["configs"], "a task per dataset, warm"),
    )
    for name, configs, note in families:
        table.add_section()
        summary = report["families"][name]
        table.add_row(
            f"[bold]{name}[/bold]",
            f"frontier of {len(configs)} configs, {note}",
            "",
            "",
            _share(summary["cost_save"]),
            f"{summary['aiq']:.3f}",
        )
        for policy in configs if name == "exchange (warm)" else ():  # the rest: in the JSON
            _row(table, "", policy["config"], policy, scored=False)
    table.add_section()
    for online in report["exchange"]["online"]:
        _row(table, "exchange (cold-start online)", online["config"], online, scored=True)
    return table


def side_tables(report: dict[str, Any]) -> list[Table]:
    """The online run's learning curve, the IPS check, and the targets."""
    runs = report["exchange"]["online"]
    best = report["baselines"]["best single"]["accuracy"]
    window = runs[0]["window"] if runs else 0
    curve = Table(
        title=f"Cold-start online: rolling accuracy of the last {window} queries "
        f"(best single {best:.3f}; 95% of it = {0.95 * best:.3f})"
    )
    curve.add_column("after query")
    for online in runs:
        curve.add_column(f"Thompson ×{online['exploration']:g}", justify="right")
    for point in runs[0]["rolling_accuracy_at"] if runs else ():
        curve.add_row(point, *(f"{o['rolling_accuracy_at'][point]:.3f}" for o in runs))
    curve.add_row(
        "first ≥ 95% of best",
        *(str(o.get("first_query_at_95%_of_best") or "never") for o in runs),
    )

    estimate = report["exchange"]["ips"]
    ips = Table(
        title=f"Off-policy check: {estimate['target']}, estimated from the "
        f"{estimate['logging']}'s logs"
    )
    for column in ("", "accuracy", "$/query"):
        ips.add_column(column, justify="right" if column else "left")
    ips.add_row(
        "true (measured)",
        f"{estimate['true']['accuracy']:.3f}",
        _usd(estimate["true"]["cost_usd"]),
    )
    for label, key in (("IPS", "ips"), ("SNIPS", "snips")):
        value, error = estimate[key], estimate[f"{key}_stderr"]
        ips.add_row(
            f"{label} (± 1 s.e.)",
            f"{value['accuracy']:.3f} ± {error['accuracy']:.3f}",
            f"{_usd(value['cost_usd'])} ± {_usd(error['cost_usd'])}",
        )
    ips.caption = (
        f"{estimate['matched']} of {estimate['n']} logged choices agree with the "
        f"target; effective sample size {estimate['effective_n']}"
    )

    targets = Table(title="Targets")
    targets.add_column("target")
    targets.add_column("met", justify="right")
    for key, value in report["targets"].items():
        targets.add_row(key, str(value))
    return [curve, ips, targets]
