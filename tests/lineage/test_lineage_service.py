"""``GET /v1/runs/{id}/lineage`` on a real server with keys: PROV-JSON for the caller's
tenant, a 404 for anyone else's run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from atomic.cli import app as cli_app
from atomic.service import create_app
from tests.lineage._history import (
    History,
    guess_model,
    intent,
    make_history,
    open_atomic,
    settings,
)
from tests.service.conftest import serve_in_thread


def _key(db: str, tenant: str) -> str:
    result = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", tenant, "--json", "--db", db]
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["secret"])


async def _history(tmp_path: Path, store_url: str) -> History:
    async with await open_atomic(tmp_path, store_url, tenant="alice") as atomic:
        return await make_history(atomic)


def test_the_lineage_endpoint_exports_prov_json_to_its_tenant_only(
    tmp_path: Path, store_url: str
) -> None:
    # Synchronous: the CLI that makes the keys runs its own event loop.
    h = asyncio.run(_history(tmp_path, store_url))
    alice, bob = _key(store_url, "alice"), _key(store_url, "bob")
    app = create_app(
        settings(tmp_path, store_url).model_copy(update={"state_refresh_s": 0}),
        models=[guess_model()],
        tasks=[intent],
        require_keys=True,
    )
    with serve_in_thread(app) as url:

        def get(path: str, secret: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {secret}"}
            return httpx.get(url + path, headers=headers, timeout=30)

        mine = get(f"/v1/runs/{h.third}/lineage", alice)
        shallow = get(f"/v1/runs/{h.third}/lineage?depth=0", alice)
        theirs = get(f"/v1/runs/{h.third}/lineage", bob)
        influence = get(f"/v1/examples/{h.example_a}/influence", alice)
        hidden = get(f"/v1/examples/{h.example_a}/influence", bob)

    assert mine.status_code == 200, mine.text
    doc = mine.json()
    assert {f"atomic:run/{r}" for r in (h.first, h.second, h.third)} == set(doc["activity"])
    assert f"atomic:feedback/{h.first_feedback}" in doc["entity"]
    assert set(shallow.json()["activity"]) == {f"atomic:run/{h.third}"}
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert theirs.json()["code"] == "run.not_found"
    assert influence.status_code == 200, influence.text
    assert [r["run_id"] for r in influence.json()["runs"]] == [h.second, h.third]
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "example.not_found"
