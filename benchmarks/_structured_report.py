"""The tables of the structured-output benchmark, from the numbers in its JSON report."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["coverage_tables", "generation_tables"]


def _share(part: int, whole: int) -> str:
    return f"{part} / {whole}" + (f"  ({100 * part / whole:.1f}%)" if whole else "")


def coverage_tables(coverage: dict[str, Any], chosen: str) -> list[Table]:
    backends = coverage["backends"]
    table = Table(
        title=f"Schema coverage: {coverage['schemas_sampled']} of {coverage['schemas_in_folder']} "
        f"schemas in {coverage['data']}"
    )
    table.add_column("")
    for name in backends:
        table.add_column(f"{name} (chosen)" if name == chosen else name, justify="right")
    rows: list[tuple[str, Any]] = [
        ("schemas compiled", lambda s: _share(s["schemas"]["compiled"], s["schemas"]["attempted"])),
        (
            "  timed out / crashed",
            lambda s: f"{s['schemas']['timeouts']} / {s['schemas']['crashes']}",
        ),
        (
            "valid accepted",
            lambda s: _share(s["valid"].get("accepted", 0), s["valid"]["in_compiled_schemas"]),
        ),
        (
            "invalid rejected",
            lambda s: _share(s["invalid"].get("rejected", 0), s["invalid"]["in_compiled_schemas"]),
        ),
        (
            "[bold]invalid ACCEPTED (bugs)[/]",
            lambda s: f"[bold]{s['invalid'].get('accepted', 0)}[/]",
        ),
        (
            "valid accepted, all schemas",
            lambda s: _share(s["valid"].get("accepted", 0), s["valid"]["in_all_schemas"]),
        ),
        (
            "skipped (long) / timed out",
            lambda s: f"{_sum(s, 'skipped')} / {_sum(s, 'timeout') + _sum(s, 'crash')}",
        ),
        ("verdict changes if spaced", lambda s: str(s["whitespace_sensitive_instances"])),
        (
            "compile+bind ms p50 / p95",
            lambda s: f"{s['compile_ms']['p50']} / {s['compile_ms']['p95']}",
        ),
        (
            "  compile only ms p50 / p95",
            lambda s: (
                f"{s['compile_ms']['bare_compile_p50']} / {s['compile_ms']['bare_compile_p95']}"
            ),
        ),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(s) for s in backends.values()))
    reasons = Table(title="Why schemas did not compile (top 5 per backend)")
    reasons.add_column("backend")
    reasons.add_column("reason")
    reasons.add_column("schemas", justify="right")
    for name, s in backends.items():
        for kind, count in list(s["schemas"]["failure_kinds"].items())[:5]:
            reasons.add_row(name, kind[:60], str(count))
    return [table, reasons] if reasons.row_count else [table]


def _sum(summary: dict[str, Any], key: str) -> int:
    return int(summary["valid"].get(key, 0)) + int(summary["invalid"].get(key, 0))


def generation_tables(generation: dict[str, Any]) -> list[Table]:
    speed = Table(
        title=f"Tokens per second, same prompts ({generation['constraint_backend']} constraint)"
    )
    for col in ("model", "task", "grammar tok/s", "prompt tok/s", "ratio", "tokens g / p"):
        speed.add_column(col, justify="left" if col in ("model", "task") else "right")
    valid = Table(
        title=f"Valid outputs through attempt_model (max {generation['max_attempts']} attempts)"
    )
    for col in (
        "model",
        "strategy",
        "first attempt",
        "after re-ask",
        "never",
        "errors",
        "fell back",
        "1st schema-valid",
    ):
        valid.add_column(col, justify="left" if col in ("model", "strategy") else "right")
    for model_id, m in generation["models"].items():
        short = model_id.split(":", 1)[-1]
        for row in m["throughput"]:
            speed.add_row(
                short,
                row["task"],
                str(row["grammar_tokens_per_s"]),
                str(row["prompt_tokens_per_s"]),
                str(row["ratio"]),
                f"{row['grammar_output_tokens']} / {row['prompt_output_tokens']}",
            )
        for row in m["validity"]:
            valid.add_row(
                short,
                row["strategy"],
                f"{row['first_share']:.0%}",
                f"{row['after_reask_share']:.0%}",
                f"{row['never_share']:.0%}",
                str(row["errors"]),
                str(row["fell_back_to_prompt"]),
                f"{row['first_schema_valid_share']:.0%}",
            )
    return [speed, valid]
