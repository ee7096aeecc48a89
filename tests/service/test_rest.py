"""The REST API under ``/v1`` against a real server: typed runs, reads, feedback, adaptation,
problem documents with the right status, and ``Idempotency-Key``."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.service.conftest import Service

PROBLEM = "application/problem+json"


def _unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def _sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy writes it to SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:atomic:error:{code}"
    assert body["detail"]
    return body


def test_a_run_returns_the_typed_output_and_what_it_took(service: Service) -> None:
    with service.client() as client:
        response = client.post(
            "/v1/tasks/triage/runs", json={"input": {"text": _unique("My card was stolen")}}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == "fraud"
    assert body["task"] == "triage"
    assert body["model_id"] == "rules:triage"
    assert body["attempts"] == 1
    assert body["run_id"].startswith("run_")
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}
    assert body["cost_usd"] == 0.0
    assert body["latency_ms"] > 0


def test_a_structured_output_comes_back_as_json(service: Service) -> None:
    with service.client() as client:
        response = client.post(
            "/v1/tasks/facts/runs",
            json={"input": {"text": "ACME charged me"}},
        )
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"amount": 12.5, "merchant": "ACME"}


def test_call_options_pin_a_model_and_cascade_on_failure(service: Service) -> None:
    with service.client() as client:
        pinned = client.post(
            "/v1/tasks/triage/runs",
            json={"input": {"text": _unique("a bill")}, "model": "backup:any"},
        )
        cascaded = client.post(
            "/v1/tasks/faulty/runs",
            json={
                "input": {"text": _unique("a bill")},
                "models": ["faults:down", "backup:any"],
                "objective": {"kind": "max_quality"},
                "deadline_s": 30,
                "max_cost_usd": 1,
            },
        )
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["model_id"] == "backup:any"
    assert pinned.json()["cost_usd"] == 0.001
    assert cascaded.status_code == 200, cascaded.text
    assert cascaded.json()["model_id"] == "backup:any"
    assert cascaded.json()["attempts"] == 2


def test_a_run_every_model_failed_is_a_502_naming_the_stored_run(service: Service) -> None:
    with service.client() as client:
        response = client.post(
            "/v1/tasks/faulty/runs",
            json={"input": {"text": _unique("a bill")}, "model": "faults:down"},
        )
        body = _assert_problem(response, 502, "model.server_error")
        context = body["context"]
        assert isinstance(context, dict)
        run = client.get(f"/v1/runs/{context['run_id']}")
    assert run.status_code == 200
    assert run.json()["status"] == "failed"
    assert run.json()["attempts"][0]["error_code"] == "model.server_error"


def test_errors_are_problem_documents_with_the_right_status(service: Service) -> None:
    with service.client() as client:
        _assert_problem(
            client.post("/v1/tasks/nope/runs", json={"input": {"text": "x"}}),
            404,
            "task.not_found",
        )
        bad_input = _assert_problem(
            client.post("/v1/tasks/triage/runs", json={"input": {"txt": "x"}}),
            422,
            "task.input_invalid",
        )
        assert bad_input["hint"] == "give a JSON object with the fields: text"
        _assert_problem(
            client.post(
                "/v1/tasks/triage/runs",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            400,
            "request.malformed_json",
        )
        _assert_problem(
            client.post("/v1/tasks/triage/runs", json={"input": {"text": "x"}, "junk": 1}),
            422,
            "request.invalid",
        )
        _assert_problem(
            client.post(
                "/v1/tasks/triage/runs", json={"input": {"text": "x"}, "model": "nope:model"}
            ),
            404,
            "model.unknown",
        )
        _assert_problem(
            client.post(
                "/v1/tasks/triage/runs",
                json={"input": {"text": "x"}, "exclude": ["rules:triage", "backup:any"]},
            ),
            409,
            "exchange.no_eligible_model",
        )
        _assert_problem(
            client.post(
                "/v1/tasks/faulty/runs",
                json={"input": {"text": _unique("x")}, "model": "faults:slow"},
            ),
            504,
            "model.timeout",
        )
        _assert_problem(client.get("/v1/runs/run_nope"), 404, "run.not_found")
        _assert_problem(client.get("/v1/nothing-here"), 404, "http.not_found")
        _assert_problem(
            client.get("/v1/runs", params={"cursor": "%%%"}), 400, "request.invalid_cursor"
        )


def test_a_rate_limited_upstream_passes_on_its_retry_after(service: Service) -> None:
    with service.client() as client:
        response = client.post(
            "/v1/tasks/faulty/runs",
            json={"input": {"text": _unique("x")}, "model": "faults:rate"},
        )
    body = _assert_problem(response, 429, "model.rate_limited")
    assert body["retryable"] is True
    assert response.headers["retry-after"] == "7"


def test_runs_are_listed_by_task_and_status_page_by_page(service: Service) -> None:
    marker = uuid.uuid4().hex[:8]
    with service.client() as client:
        ids = []
        for i in range(5):
            r = client.post("/v1/tasks/facts/runs", json={"input": {"text": f"ACME {marker} {i}"}})
            assert r.status_code == 200, r.text
            ids.append(r.json()["run_id"])
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"task": "facts", "status": "succeeded", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/runs", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert all(r["task_name"] == "facts" for r in body["runs"])
            assert all(r["status"] == "succeeded" for r in body["runs"])
            seen.extend(r["id"] for r in body["runs"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        failed = client.get("/v1/runs", params={"status": "failed", "task": "facts"})
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert failed.json()["runs"] == []


def test_a_run_its_explanation_and_feedback(service: Service) -> None:
    with service.client() as client:
        run_id = client.post(
            "/v1/tasks/triage/runs", json={"input": {"text": _unique("a charge I do not know")}}
        ).json()["run_id"]
        run = client.get(f"/v1/runs/{run_id}").json()
        explained = client.get(f"/v1/runs/{run_id}/explain")
        feedback = client.post(
            f"/v1/runs/{run_id}/feedback",
            json={"kind": "corrected", "output": "fraud", "id": f"fb-{run_id}"},
        )
        conflict = client.post(
            f"/v1/runs/{run_id}/feedback", json={"kind": "correct", "id": f"fb-{run_id}"}
        )
        invalid = client.post(
            f"/v1/runs/{run_id}/feedback", json={"kind": "corrected", "output": "nonsense"}
        )
    assert run["status"] == "succeeded"
    assert run["attempts"][0]["model_id"] == "rules:triage"
    assert explained.status_code == 200
    assert explained.json()["winner"] == "rules:triage"
    assert {b["model_id"] for b in explained.json()["bids"]} == {"rules:triage", "backup:any"}
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["kind"] == "corrected"
    assert feedback.json()["output"] == "fraud"
    _assert_problem(conflict, 409, "feedback.conflict")
    _assert_problem(invalid, 422, "feedback.invalid")


def test_models_and_tasks_are_listed_with_cards_and_schemas(service: Service) -> None:
    with service.client() as client:
        models = client.get("/v1/models").json()
        tasks = client.get("/v1/tasks").json()["tasks"]
    ids = [m["id"] for m in models["data"]]
    assert models["object"] == "list"
    assert {"rules:triage", "backup:any", "atomic:auto", "atomic:task/triage"} <= set(ids)
    card = next(m["card"] for m in models["data"] if m["id"] == "backup:any")
    assert card["price"]["per_call"] == 0.001
    by_name = {t["name"]: t for t in tasks}
    assert by_name["triage"]["kind"] == "label"
    assert by_name["triage"]["output_schema"]["enum"] == ["billing", "fraud", "other"]
    assert by_name["facts"]["input_schema"]["properties"] == {
        "text": {"title": "Text", "type": "string"}
    }


def test_adaptation_is_shown_frozen_unfrozen_and_reset(service: Service) -> None:
    with service.client() as client:
        shown = client.get("/v1/tasks/triage/adaptation")
        frozen = client.post("/v1/tasks/triage/adaptation", json={"action": "freeze"})
        unfrozen = client.post("/v1/tasks/triage/adaptation", json={"action": "unfreeze"})
        reset = client.post("/v1/tasks/triage/adaptation", json={"action": "reset"})
        missing = client.get("/v1/tasks/nope/adaptation")
    assert shown.status_code == 200, shown.text
    assert shown.json()["task"] == "triage"
    assert {e["model_id"] for e in shown.json()["estimates"]} == {"rules:triage", "backup:any"}
    assert frozen.json()["frozen"] is True
    assert unfrozen.json()["frozen"] is False
    assert reset.json()["dropped"] >= 0
    _assert_problem(missing, 404, "task.not_found")


def test_a_repeated_post_returns_the_first_response_and_calls_no_model(
    service: Service,
) -> None:
    key = str(uuid.uuid4())
    body = {"input": {"text": _unique("a bill")}}
    with service.client() as client:
        first = client.post("/v1/tasks/triage/runs", json=body, headers={"Idempotency-Key": key})
        calls = service.calls.total()
        again = client.post("/v1/tasks/triage/runs", json=body, headers={"Idempotency-Key": key})
        other = client.post(
            "/v1/tasks/triage/runs",
            json={"input": {"text": "something else"}},
            headers={"Idempotency-Key": key},
        )
        runs = client.get("/v1/runs", params={"limit": 500}).json()["runs"]
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert service.calls.total() == calls
    assert [r["id"] for r in runs].count(first.json()["run_id"]) == 1
    _assert_problem(other, 422, "idempotency.key_reused")


def test_a_failed_first_response_is_replayed_too(service: Service) -> None:
    key = str(uuid.uuid4())
    with service.client() as client:
        first = client.post(
            "/v1/tasks/nope/runs", json={"input": {}}, headers={"Idempotency-Key": key}
        )
        again = client.post(
            "/v1/tasks/nope/runs", json={"input": {}}, headers={"Idempotency-Key": key}
        )
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json()


def test_the_openapi_spec_documents_every_body(service: Service) -> None:
    with service.client() as client:
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("RunRequest", "RunResponse", "RunList", "FeedbackRequest", "Problem"):
        assert name in schemas
    post = spec["paths"]["/v1/tasks/{task}/runs"]["post"]
    assert {"404", "422", "429", "502", "504"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_text_is_the_input_of_a_one_field_task(service: Service) -> None:
    with service.client() as client:
        response = client.post("/v1/tasks/triage/runs", json={"input": "my card was stolen"})
        assert response.status_code == 200, response.text
        run = client.get(f"/v1/runs/{response.json()['run_id']}").json()
    assert run["input"] == {"text": "my card was stolen"}


def test_a_claim_in_flight_is_409_and_a_dead_processs_claim_is_taken_over(
    service: Service,
) -> None:
    key = str(uuid.uuid4())
    body = {"input": {"text": _unique("a bill")}}
    with service.client(headers={"Idempotency-Key": key}) as client:
        first = client.post("/v1/tasks/triage/runs", json=body)
        # As if the process serving it were still at work: the answer is not stored yet.
        with sqlite3.connect(service.home / "atomic.db") as db:
            db.execute(
                "UPDATE idempotency_keys SET status_code = NULL, created_at = ? WHERE key = ?",
                (_sqlite_time(datetime.now(UTC)), key),
            )
        in_flight = client.post("/v1/tasks/triage/runs", json=body)
        # As if that process had died ten minutes ago.
        with sqlite3.connect(service.home / "atomic.db") as db:
            db.execute(
                "UPDATE idempotency_keys SET created_at = ? WHERE key = ?",
                (_sqlite_time(datetime.now(UTC) - timedelta(minutes=11)), key),
            )
        taken_over = client.post("/v1/tasks/triage/runs", json=body)
        replayed = client.post("/v1/tasks/triage/runs", json=body)
    assert first.status_code == 200
    _assert_problem(in_flight, 409, "idempotency.in_progress")
    assert in_flight.headers["retry-after"] == "1"
    assert taken_over.status_code == 200
    assert "idempotent-replayed" not in taken_over.headers
    assert taken_over.json()["run_id"] != first.json()["run_id"]
    assert replayed.json() == taken_over.json()
