"""Least privilege, shown by the integration suite: every AWS call each function made on the local stacks
is granted by its own policy, and every write its policy grants, it made. Runs after tests/integration,
which leaves the calls in LAUNCH_CALLS_DIR (make test)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.policies.iam import policies, unexercised_writes, ungranted


@pytest.fixture(scope="module")
def calls() -> set[tuple[str, str]]:
    folder = os.environ.get("LAUNCH_CALLS_DIR")
    files = sorted(Path(folder).glob("*.json")) if folder else []
    if not files:
        pytest.skip("no recorded calls: run after tests/integration with LAUNCH_CALLS_DIR set (make test does)")
    return {(function, operation) for path in files for function, operation in json.loads(path.read_text())}


def test_every_call_a_function_made_is_granted_by_its_policy(calls: set[tuple[str, str]]) -> None:
    assert ungranted(calls, policies()) == []


def test_every_write_a_function_may_make_it_made(calls: set[tuple[str, str]]) -> None:
    assert unexercised_writes(calls, policies()) == []


def test_every_function_the_calls_name_has_a_policy_and_every_policy_a_function(calls: set[tuple[str, str]]) -> None:
    from app import app

    functions = {function.name for function in app.pure_lambda_functions} | {"api_handler"}
    assert set(policies()) == functions
    assert {function for function, _ in calls} <= functions
