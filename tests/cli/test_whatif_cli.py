"""``atomic whatif`` on logged traffic with feedback: a table at 80 columns, and JSON."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from atomic import Atomic
from atomic.cli import app
from atomic.models import FunctionModel, Price, function_card
from atomic.settings import load_settings


def _log_traffic() -> None:
    async def fill() -> None:
        cheap = FunctionModel(
            lambda request: "negative",
            card=function_card("fn:always-negative", price=Price(per_call=0.0001)),
        )
        dear = FunctionModel(
            lambda request: "positive",
            card=function_card("fn:always-positive", price=Price(per_call=0.002)),
        )
        async with await Atomic.open(load_settings(), models=[cheap, dear], seed=3) as atomic:
            for i in range(60):
                result = await atomic.run("sentiment", {"text": f"Great service, thanks {i}!"})
                verdict = "correct" if result.output == "positive" else "incorrect"
                await atomic.record_feedback(result.run_id, verdict, source="ground_truth")

    asyncio.run(fill())


def test_whatif_prints_an_estimate_that_fits_and_scripts(cli: CliRunner) -> None:
    _log_traffic()
    shown = cli.invoke(app, ["whatif", "sentiment", "--objective", "min_cost", "--floor", "0"])
    assert shown.exit_code == 0, shown.output
    assert "What if: min_cost(floor=0.0) on 60 logged runs" in shown.output
    assert "logged policy" in shown.output
    assert all(len(line) <= 80 for line in shown.output.splitlines())

    as_json = cli.invoke(
        app, ["whatif", "sentiment", "--objective", "min_cost", "--floor", "0", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.output)
    assert result["runs"] == result["judged"] == 60
    assert result["choices"] == {"fn:always-negative": 60}  # the cheapest, every time
    assert result["correctness"]["snips"] == pytest.approx(0.0)  # it is always wrong here
    assert result["cost"]["snips"] == pytest.approx(0.0001)

    unknown = cli.invoke(app, ["whatif", "nosuch", "--json"])
    assert unknown.exit_code == 3
    bad = cli.invoke(app, ["whatif", "sentiment", "--objective", "cheapest"])
    assert bad.exit_code == 2  # a usage error
    assert "unknown objective 'cheapest'" in bad.output
