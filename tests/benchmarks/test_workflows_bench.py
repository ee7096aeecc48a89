"""``atomic bench workflows`` end to end, small: every runner measured against direct calls
in one run, on SQLite, PostgreSQL and the Temporal dev server, its table and JSON written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from atomic.cli import app


def test_bench_workflows_measures_every_runner_against_direct_calls(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    out = tmp_path / "workflows.json"
    args = ["bench", "workflows", "--runs", "3", "--inbox-emails", "0", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--steps", "1,4", "--pg-url", fresh_postgres_url])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    runners = report["overhead"]
    assert set(runners) == {
        "direct runner",
        "embedded, SQLite",
        "embedded, PostgreSQL",
        "Temporal",
    }
    for by_size in runners.values():
        assert set(by_size) == {"1", "4"}
        for size, row in by_size.items():
            assert row["workflow_ms"] > 0
            assert row["direct_ms"] > 0
            per_step = (row["workflow_ms"] - row["direct_ms"]) / int(size)
            assert abs(row["overhead_per_step_ms"] - per_step) < 1e-6
    # A journal costs something: a Temporal workflow of four steps is slower than four calls.
    temporal = runners["Temporal"]["4"]
    assert temporal["workflow_ms"] > temporal["direct_ms"]
    assert report["inbox"] == {}
    assert "per step" in result.output
