"""API keys and tenants against a real server with keys required: ``atomic keys`` creates,
lists and revokes them; each request acts as its key's tenant; budgets and rate limits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from atomic.cli import app as cli_app
from atomic.service import create_app
from tests.service.conftest import (
    Calls,
    facts,
    faulty,
    models,
    serve_in_thread,
    settings_for,
    triage,
)


@dataclass(frozen=True)
class Keyed:
    url: str
    db: str

    def key(self, tenant: str, *args: str) -> tuple[str, str]:
        """A new key's (id, secret), made with ``atomic keys create``."""
        result = CliRunner().invoke(
            cli_app, ["keys", "create", "--tenant", tenant, "--json", "--db", self.db, *args]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        return data["id"], data["secret"]

    def client(self, secret: str | None = None, **headers: str) -> httpx.Client:
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    home: Path = tmp_path_factory.mktemp("keyed")
    app = create_app(
        settings_for(home), models=models(Calls()), tasks=[triage, facts, faulty], require_keys=True
    )
    with serve_in_thread(app) as url:
        yield Keyed(url=url, db=f"sqlite:///{home / 'atomic.db'}")


def _run(client: httpx.Client, text: str, **extra: object) -> httpx.Response:
    return client.post("/v1/tasks/triage/runs", json={"input": {"text": text}, **extra})


def test_requests_without_a_valid_key_are_401(keyed: Keyed) -> None:
    with keyed.client() as anonymous, keyed.client("atk_not-a-key") as wrong:
        missing = anonymous.get("/v1/runs")
        bad = wrong.get("/v1/runs")
        health = anonymous.get("/healthz")
    for response in (missing, bad):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "auth.invalid_key"
    assert health.status_code == 200


def test_each_tenant_sees_only_its_own_runs(keyed: Keyed) -> None:
    _, alice = keyed.key("alice")
    _, bob = keyed.key("bob")
    with keyed.client(alice) as a, keyed.client(bob) as b:
        run_id = _run(a, f"a bill {uuid.uuid4()}").json()["run_id"]
        assert a.get(f"/v1/runs/{run_id}").json()["tenant"] == "alice"
        for path in (f"/v1/runs/{run_id}", f"/v1/runs/{run_id}/explain"):
            assert b.get(path).status_code == 404
            assert b.get(path).json()["code"] == "run.not_found"
        stolen = b.post(f"/v1/runs/{run_id}/feedback", json={"kind": "incorrect"})
        assert stolen.status_code == 404
        assert run_id not in {r["id"] for r in b.get("/v1/runs").json()["runs"]}
        assert run_id in {r["id"] for r in a.get("/v1/runs").json()["runs"]}
        frozen = a.post("/v1/tasks/facts/adaptation", json={"action": "freeze"}).json()
        assert frozen["frozen"] is True
        assert frozen["tenant"] == "alice"
        assert b.get("/v1/tasks/facts/adaptation").json()["frozen"] is False


def test_an_admin_key_may_act_as_another_tenant_and_a_user_key_may_not(keyed: Keyed) -> None:
    _, carol = keyed.key("carol")
    _, admin = keyed.key("ops", "--admin")
    with keyed.client(carol) as c:
        run_id = _run(c, f"stolen {uuid.uuid4()}").json()["run_id"]
        forbidden = c.get("/v1/runs", headers={"X-Atomic-Tenant": "ops"})
    with keyed.client(admin, **{"X-Atomic-Tenant": "carol"}) as ops:
        seen = ops.get(f"/v1/runs/{run_id}")
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "auth.forbidden"
    assert seen.status_code == 200
    assert seen.json()["tenant"] == "carol"


def test_the_same_idempotency_key_from_two_tenants_is_two_operations(keyed: Keyed) -> None:
    _, dave = keyed.key("dave")
    _, erin = keyed.key("erin")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"input": {"text": "a bill"}}
    with keyed.client(dave, **key) as d, keyed.client(erin, **key) as e:
        first = d.post("/v1/tasks/triage/runs", json=body).json()
        second = e.post("/v1/tasks/triage/runs", json=body).json()
        assert e.get(f"/v1/runs/{second['run_id']}").json()["tenant"] == "erin"
    assert first["run_id"] != second["run_id"]


def test_a_rate_limited_key_gets_429_with_retry_after(keyed: Keyed) -> None:
    _, secret = keyed.key("frank", "--rate-per-minute", "2")
    with keyed.client(secret) as f:
        answers = [f.get("/v1/tasks") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    limited = answers[-1]
    assert limited.json()["code"] == "key.rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_a_key_spends_its_budget_then_gets_403(keyed: Keyed) -> None:
    key_id, secret = keyed.key("grace", "--budget-usd", "0.001")
    with keyed.client(secret) as g:
        paid = _run(g, "a bill", model="backup:any")
        spent = _run(g, "a bill", model="backup:any")
    assert paid.status_code == 200, paid.text
    assert paid.json()["cost_usd"] == 0.001
    assert spent.status_code == 403
    assert spent.json()["code"] == "key.budget_exhausted"
    listed = CliRunner().invoke(cli_app, ["keys", "list", "--json", "--db", keyed.db])
    row = next(k for k in json.loads(listed.stdout) if k["id"] == key_id)
    assert row["spent_usd"] == pytest.approx(0.001)


def test_keys_are_listed_without_secrets_and_revoked(keyed: Keyed) -> None:
    key_id, secret = keyed.key("heidi", "--name", "ci")
    listed = CliRunner().invoke(cli_app, ["keys", "list", "--json", "--db", keyed.db])
    assert listed.exit_code == 0
    assert secret not in listed.stdout
    assert hashlib_of(secret) not in listed.stdout
    row = next(k for k in json.loads(listed.stdout) if k["id"] == key_id)
    assert row["tenant"] == "heidi"
    assert secret.startswith(row["prefix"])
    with keyed.client(secret) as h:
        assert h.get("/v1/tasks").status_code == 200
        revoked = CliRunner().invoke(cli_app, ["keys", "revoke", key_id, "--db", keyed.db])
        assert revoked.exit_code == 0, revoked.output
        assert h.get("/v1/tasks").status_code == 401
    unknown = CliRunner().invoke(cli_app, ["keys", "revoke", "key_nope", "--db", keyed.db])
    assert unknown.exit_code == 3  # not found
    assert "no API key 'key_nope'" in unknown.output


def test_the_openai_client_acts_as_its_keys_tenant(keyed: Keyed) -> None:
    _, secret = keyed.key("ivan")
    with openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=secret, max_retries=0) as client:
        completion = client.chat.completions.create(
            model="atomic:auto", messages=[{"role": "user", "content": "hi"}]
        )
    with keyed.client(secret) as i:
        assert i.get(f"/v1/runs/{completion.id}").json()["tenant"] == "ivan"
    with (
        openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.chat.completions.create(
            model="atomic:auto", messages=[{"role": "user", "content": "hi"}]
        )


def hashlib_of(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


ACTIONS = ["run", "chat", "list", "read_own", "read_other", "explain_other", "feedback_other"]


@given(steps=st.lists(st.tuples(st.sampled_from([0, 1]), st.sampled_from(ACTIONS)), max_size=12))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_two_tenants_interleaved_never_read_each_others_data(
    keyed: Keyed, steps: list[tuple[int, str]]
) -> None:
    tenants = [f"t{uuid.uuid4().hex[:6]}", f"t{uuid.uuid4().hex[:6]}"]
    secrets = [keyed.key(t)[1] for t in tenants]
    owned: list[list[str]] = [[], []]
    clients = [keyed.client(s) for s in secrets]
    try:
        for who, action in steps:
            me, other = clients[who], 1 - who
            if action == "run":
                owned[who].append(_run(me, f"a bill {uuid.uuid4()}").json()["run_id"])
            elif action == "chat":
                body = {"model": "atomic:auto", "messages": [{"role": "user", "content": "hi"}]}
                owned[who].append(me.post("/v1/chat/completions", json=body).json()["id"])
            elif action == "list":
                runs = me.get("/v1/runs", params={"limit": 500}).json()["runs"]
                assert {r["tenant"] for r in runs} <= {tenants[who]}
                assert {r["id"] for r in runs} == set(owned[who])
            elif action == "read_own" and owned[who]:
                run = me.get(f"/v1/runs/{owned[who][-1]}").json()
                assert run["tenant"] == tenants[who]
            elif owned[other]:
                target = owned[other][-1]
                if action == "explain_other":
                    response = me.get(f"/v1/runs/{target}/explain")
                elif action == "feedback_other":
                    response = me.post(f"/v1/runs/{target}/feedback", json={"kind": "incorrect"})
                else:
                    response = me.get(f"/v1/runs/{target}")
                assert response.status_code == 404
                assert tenants[other] not in response.text
    finally:
        for client in clients:
            client.close()
