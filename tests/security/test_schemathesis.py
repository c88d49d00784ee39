"""Property-based fuzzing of the all-in-one app's OpenAPI document, authenticated:
no 5xx, every error is problem+json, successful responses match the schema."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.security.conftest import Server

#: Examples per operation; CTH_FUZZ_EXAMPLES raises it for a deeper run.
EXAMPLES = int(os.environ.get("CTH_FUZZ_EXAMPLES", "15"))
#: Endpoints that never end by design (Server-Sent Events).
STREAMING = "/api/v1/notifications/stream"


@pytest.fixture(scope="module")
def caller(server: Server) -> dict[str, str]:
    return server.register_and_login("fuzzer@example.com")


def check_response(case, caller) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=caller, timeout=10)

    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])  # schemathesis: name -> list of values
        assert content_type[0].startswith("application/problem+json"), response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        assert {"type", "title", "detail", "instance"} <= set(problem)


def test_no_server_errors_and_problem_details(server: Server, caller: dict[str, str]) -> None:
    # Driven through Hypothesis directly: schemathesis' pytest plugin does not load on pytest 9.
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == STREAMING:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            check_response(case, caller)

        try:
            fuzz()
        except (
            Exception,
            BaseExceptionGroup,
        ) as error:  # collect every operation's failure, then report them all
            failures[f"{operation.method.upper()} {operation.path}"] = f"{type(error).__name__}: {error}"[
                :600
            ]

    print(f"fuzzed {operations} operations x {EXAMPLES} examples; failures: {len(failures)}")
    assert operations >= 10
    assert failures == {}
