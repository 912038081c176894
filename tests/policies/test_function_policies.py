"""Least privilege, shown by the integration suite: every AWS call each function made on the local stacks
is granted by the policies its role holds there, on the resource IAM judges it by; every write those
policies grant, it made; and no write it makes on named resources is granted on `*`. Runs after
tests/integration, which leaves the calls and the deployed policies in LAUNCH_CALLS_DIR (make test)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.policies.iam import Call, by_worker, recorded, unexercised_writes, ungranted, writes_on_everything

Recorded = tuple[set[Call], dict[str, list[dict[str, Any]]]]


@pytest.fixture(scope="module")
def run() -> Recorded:
    folder = os.environ.get("LAUNCH_CALLS_DIR")
    if not folder or not list(Path(folder).glob("*.json")):
        pytest.skip("no recorded calls: run after tests/integration with LAUNCH_CALLS_DIR set (make test does)")
    return recorded(Path(folder))


def test_every_call_a_function_made_is_granted_by_its_policy(run: Recorded) -> None:
    """Judged on each worker's stack against its own policies: the names CloudFormation makes (the copy-plan
    bucket's) differ from stack to stack."""
    folder = Path(os.environ["LAUNCH_CALLS_DIR"])
    assert [problem for calls, policies in by_worker(folder) for problem in ungranted(calls, policies)] == []


def test_every_write_a_function_may_make_it_made(run: Recorded) -> None:
    assert unexercised_writes(*run) == []


def test_no_write_on_named_resources_is_granted_on_everything(run: Recorded) -> None:
    assert writes_on_everything(*run) == []


def test_every_function_the_calls_name_has_a_policy_and_every_policy_a_function(run: Recorded) -> None:
    """Each function's role, and for each function that acts in environments, the environment role's
    policy for it (`<function>@environment`, its sessions' limit)."""
    from localaws.faults import ENVIRONMENT_SUFFIX

    from app import app
    from launchctl.build.template import acting_in_environments

    calls, policies = run
    functions = {function.name for function in app.pure_lambda_functions} | {"api_handler"}
    functions |= {source.name for source in app.event_sources}  # EventBridge's: launch_events
    functions |= {function + ENVIRONMENT_SUFFIX for function in acting_in_environments()}
    assert set(policies) == functions
    assert {function for function, _, _ in calls} <= functions
