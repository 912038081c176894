"""The ASL reads like the checklist and is wired to functions that exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launchctl.build.asl import bind_definition, function_name, resource_names
from launchctl.local.bridge import chalice_functions

ASL = Path(__file__).parents[2] / "statemachines" / "launch.asl.json"
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(ASL.read_text())


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catch["Next"] for catch in state.get("Catch", [])}
    return found


def test_every_placeholder_names_a_chalice_lambda_function() -> None:
    from app import app

    assert {function_name(p) for p in resource_names(ASL.read_text())} == set(chalice_functions(app))


def test_binding_leaves_no_placeholder() -> None:
    assert "${" not in bind_definition(ASL.read_text(), lambda name: f"arn:aws:lambda:::function:{name}")


def test_every_state_has_a_comment_and_every_transition_a_target(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, state in states.items():
        assert state.get("Comment"), name
        assert _targets(state) <= set(states), name


def test_every_state_is_reachable(definition: dict[str, Any]) -> None:
    states = definition["States"]
    seen, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier.extend(_targets(states[name]))
    assert seen == set(states)


def test_every_task_retries_transient_lambda_errors(definition: dict[str, Any]) -> None:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            retried = {error for rule in state["Retry"] for error in rule["ErrorEquals"]}
            assert retried >= LAMBDA_ERRORS or "States.ALL" in retried, name


def test_every_stage_after_the_first_change_is_caught_into_rollback(definition: dict[str, Any]) -> None:
    for name in (
        "Record rollback point",
        "Deploy frontend",
        "Deploy backend",
        "Check backend rollout",
        "Smoke test",
        "Bake check",
    ):
        assert definition["States"][name]["Catch"][0]["Next"] == "Roll back", name


def test_failures_before_any_change_never_reach_rollback(definition: dict[str, Any]) -> None:
    for name in ("Begin launch", "Preflight checks", "Collect approvals"):
        assert definition["States"][name]["Catch"][0]["Next"] == "End unchanged", name


def test_the_approval_wait_has_a_timeout(definition: dict[str, Any]) -> None:
    gate = definition["States"]["Collect approvals"]
    assert gate["Resource"].endswith(".waitForTaskToken")
    assert "TimeoutSecondsPath" in gate or "TimeoutSeconds" in gate
    assert gate["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
