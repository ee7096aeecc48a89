"""``/healthz`` and ``/readyz`` against a real server."""

from __future__ import annotations

from atomic.storage._migrate import HEAD_REVISION
from tests.service.conftest import Service


def test_healthz_answers(service: Service) -> None:
    with service.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


def test_readyz_checks_store_migrations_and_models(service: Service) -> None:
    with service.client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"store", "migrations", "models"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["migrations"]["detail"] == f"at {HEAD_REVISION}"
    assert body["checks"]["models"]["detail"] == "6 registered"
