"""schemathesis over the OpenAPI spec, against the real server: no response is a 5xx and every
4xx is a problem document.

Driven by hand (operation by operation, with hypothesis), not by schemathesis' pytest plugin,
which does not run under this project's pytest version.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service.conftest import Service

EXAMPLES = 25


SEEN: Counter[int] = Counter()


def problem_documents_for_4xx(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    SEEN[response.status_code] += 1
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type == "application/problem+json", (
            f"{response.status_code} for {case.method} {case.path} is {content_type}"
        )
        body = response.json()
        assert body["status"] == response.status_code
        assert body["code"]
    return None


def test_no_5xx_and_a_problem_document_for_every_4xx(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error, problem_documents_for_4xx])

        fuzz()
    assert SEEN[200] > 0
    assert sum(n for status, n in SEEN.items() if 400 <= status < 500) > 100
    assert not [status for status in SEEN if status >= 500]
