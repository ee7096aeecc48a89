"""``GET /v1/audit`` over real HTTP: the service's runs to a cloud model are in the ledger,
and only an admin key may read it (it holds every tenant's entries)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from atomic.cli._app import app as cli_app
from atomic.service import create_app
from tests.audit.conftest import CapturingPeer, route, settings_for
from tests.service.conftest import serve_in_thread


def _key(db: str, tenant: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", tenant, "--json", "--db", db, *args]
    )
    assert result.exit_code == 0, result.output
    secret: str = json.loads(result.stdout)["secret"]
    return secret


def test_the_ledger_over_http_for_admin_keys_only(
    tmp_path: Path, store_url: str, capturing_peer: CapturingPeer
) -> None:
    capturing_peer.reset()
    service = create_app(
        settings_for(tmp_path, store_url),
        models=[capturing_peer.model()],
        tasks=[route],
        require_keys=True,
    )
    with serve_in_thread(service) as url:
        user, admin = _key(store_url, "acme"), _key(store_url, "ops", "--admin")
        with httpx.Client(base_url=url, timeout=30) as client:
            ran = client.post(
                "/v1/tasks/route/runs",
                json={
                    "input": {"text": "card lost", "customer": "Ada"},
                    "model": "peer:peer-cloud",
                },
                headers={"Authorization": f"Bearer {user}"},
            )
            assert ran.status_code == 200, ran.text

            refused = client.get("/v1/audit", headers={"Authorization": f"Bearer {user}"})
            assert refused.status_code == 403
            assert "admin key" in refused.json()["hint"]
            assert client.get("/v1/audit").status_code == 401

            admin_headers = {"Authorization": f"Bearer {admin}"}
            listed = client.get("/v1/audit", headers=admin_headers).json()
            checked = client.get("/v1/audit/verify", headers=admin_headers).json()

    (entry,) = listed["entries"]
    assert entry["run_id"] == ran.json()["run_id"]
    assert entry["tenant"] == "acme"
    (received,) = capturing_peer.received
    assert entry["payload_sha256"] == hashlib.sha256(received.body).hexdigest()
    assert listed["next_after"] is None
    assert checked["ok"] is True
    assert checked["entries"] == 1
