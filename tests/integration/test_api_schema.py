"""Property-based requests (schemathesis) against /openapi.json on the local API: no 5xx, no answer the
description does not allow."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.integration


# A cursor is well-formed only when this API made it, and a frontend artifact only when it is in the
# environment's artifact bucket (which the schema, one for all environments, cannot say): any other is
# rightly a 400.
OPAQUE = {
    "GET /launches": [positive_data_acceptance],
    "POST /launches": [positive_data_acceptance],
    "GET /environments/{environment}/preflight": [positive_data_acceptance],
}


def test_the_api_never_fails_and_always_answers_as_described(stack: Any) -> None:
    # schemathesis' pytest plugin does not run under pytest 9 yet, so each operation's strategy is
    # driven by hypothesis here; the checks are schemathesis' own.
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /launches", "GET /launches", "POST /launches/{launch_id}/abort"} <= {op.label for op in operations}

    # Signed in as the local release engineer; schemathesis' ignored_auth check also sends each
    # request without the header and expects the API to refuse it.
    credential = stack.api_as().credential
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        def answers_as_described(case: Any) -> None:
            case.call_and_validate(
                headers={"Authorization": credential()}, excluded_checks=OPAQUE.get(case.operation.label, [])
            )

        answers_as_described()
