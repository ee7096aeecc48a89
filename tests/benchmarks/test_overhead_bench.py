"""A short run of the overhead benchmark end to end: its report holds the auction rows and the
paired measure of what traces and metrics add to a call."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks import overhead


def test_a_short_overhead_run_reports_auctions_and_the_observability_share(
    tmp_path: Path,
) -> None:
    out = tmp_path / "overhead.json"
    report = overhead.main(
        [
            "--bidders",
            "1,8",
            "--auctions",
            "40",
            "--calls",
            "15",
            "--no-postgres",
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    rows = report["auctions"]
    assert {(r["bidders"], r["contextual"]) for r in rows} >= {(1, False), (8, True)}
    assert all(r["auction_us"]["p50"] > 0 for r in rows)
    paired = report["calls"]["observability"]
    # Every call did work, and the share is their ratio, not a constant.
    assert paired["plain_cpu_ms_mean"] > 0
    assert paired["observed_cpu_ms_mean"] > 0
    share = report["calls"]["observability_share_of_overhead"]
    assert math.isfinite(share)
    assert share == paired["observed_cpu_ms_mean"] / paired["plain_cpu_ms_mean"] - 1
