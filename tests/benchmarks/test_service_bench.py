"""``atomic bench service`` end to end, small: the direct upstream and Atomic's two endpoints
on SQLite and PostgreSQL at every concurrency, its table, JSON and plot written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from atomic.cli import app


def test_bench_service_measures_atomic_against_the_direct_upstream(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    out = tmp_path / "service.json"
    args = ["bench", "service", "--requests", "8", "--pg-url", fresh_postgres_url]
    result = CliRunner().invoke(app, [*args, "--litellm", "", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    points = {(r["target"], r["db"], r["concurrency"]) for r in report["rows"]}
    for c in (1, 16, 64):
        assert ("direct", "-", c) in points
        for db in ("sqlite", "postgres"):
            assert ("atomic chat", db, c) in points
            assert ("atomic run", db, c) in points
    for row in report["rows"]:
        assert row["errors"] == 0
        assert row["rps"] > 0
        assert row["p99_ms"] >= row["p50_ms"] > 0
    assert out.with_suffix(".png").is_file()
    assert "Service overhead" in result.output
