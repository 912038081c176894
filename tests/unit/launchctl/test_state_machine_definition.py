"""The ASL reads like the checklist and is wired to functions that exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from localaws.bridge import chalice_functions

from launchctl.build.asl import bind_definition, function_name, resource_names

ASL = Path(__file__).parents[3] / "statemachines" / "launch.asl.json"
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


def graphs(definition: dict[str, Any], where: str = "") -> dict[str, dict[str, Any]]:
    """Every state graph of the machine: its own, each Parallel branch's and each Map's, by where it is."""
    found = {where or "(top)": definition}
    for name, state in definition["States"].items():
        for index, branch in enumerate(state.get("Branches", [])):
            found |= graphs(branch, f"{where}/{name}[{index}]")
        if "ItemProcessor" in state:
            found |= graphs(state["ItemProcessor"], f"{where}/{name}")
    return found


def every_state(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for graph in graphs(definition).values() for name, state in graph["States"].items()}


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catch["Next"] for catch in state.get("Catch", [])}
    return found


def test_every_placeholder_names_a_chalice_lambda_function() -> None:
    from app import app

    # All but ECS's lifecycle hook, which ECS invokes at each traffic step, not the state machine.
    invoked = set(chalice_functions(app)) - {"judge_traffic_step"}
    assert {function_name(p) for p in resource_names(ASL.read_text())} == invoked


def test_binding_leaves_no_placeholder() -> None:
    assert "${" not in bind_definition(ASL.read_text(), lambda name: f"arn:aws:lambda:::function:{name}")


def test_every_state_has_a_comment_and_every_transition_a_target(definition: dict[str, Any]) -> None:
    for where, graph in graphs(definition).items():
        states = graph["States"]
        for name, state in states.items():
            assert state.get("Comment") or state["Type"] in {"Succeed", "Fail"}, f"{where}: {name}"
            assert _targets(state) <= set(states), f"{where}: {name}"


def test_every_state_is_reachable(definition: dict[str, Any]) -> None:
    for where, graph in graphs(definition).items():
        states = graph["States"]
        seen, frontier = set(), [graph["StartAt"]]
        while frontier:
            name = frontier.pop()
            if name not in seen:
                seen.add(name)
                frontier.extend(_targets(states[name]))
        assert seen == set(states), where


def test_no_state_is_visited_twice_so_no_wait_then_look_loop_is_left(definition: dict[str, Any]) -> None:
    """Every graph is acyclic: the snapshot, the migration, the rollout, the rollback's deployment and the
    bake wait on AWS's events and on timers, never in a Wait -> look -> Choice cycle; a launch's state
    transitions do not grow with how long anything takes."""
    for where, graph in graphs(definition).items():
        assert _cycle(graph["States"], graph["StartAt"], ()) is None, where


def _cycle(states: dict[str, Any], name: str, path: tuple[str, ...]) -> str | None:
    """A cycle through `name` reached along `path`, spelled out; None when there is none."""
    if name in path:
        return " -> ".join((*path, name))
    for target in sorted(_targets(states[name])):
        found = _cycle(states, target, (*path, name))
        if found:
            return found
    return None


def test_the_only_timers_are_the_bakes_checkpoints(definition: dict[str, Any]) -> None:
    waits = {name: state for name, state in every_state(definition).items() if state["Type"] == "Wait"}
    assert list(waits) == ["Until the checkpoint"]
    assert set(waits["Until the checkpoint"]) >= {"TimestampPath"}  # until a time set when the bake began


AWS_WAITS = {
    "Wait for snapshot": ("snapshot", "Snapshot deadline", "Roll back"),
    "Wait for migration": ("migration", "Migration deadline", "Roll back"),
    "Wait for rollout": ("rollout", "Rollout deadline", "Roll back"),
    "Wait for restore": ("restore", "Restore deadline", "Finish rollback failed"),
    "Watch alarms": ("alarms", "Alarm watch over", None),
}


@pytest.mark.parametrize("name", sorted(AWS_WAITS))
def test_each_wait_on_aws_is_a_task_token_with_a_deadline_and_a_last_look(
    definition: dict[str, Any], name: str
) -> None:
    kind, at_deadline, on_failure = AWS_WAITS[name]
    states = every_state(definition)
    wait = states[name]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    payload = wait["Parameters"]["Payload"]
    assert (payload["wait"], payload["task_token.$"]) == (kind, "$$.Task.Token")
    assert payload["deadline_seconds.$"] == wait["TimeoutSecondsPath"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in wait.get("Catch", [])}
    assert catches[("States.Timeout",)] == at_deadline
    if on_failure is not None:
        assert catches[("States.ALL",)] == on_failure
        look = states[at_deadline]
        assert look["Resource"] == "${AwaitEventFunctionArn}"
        assert look["Parameters"] == {"launch_id.$": "$.launch_id", "wait": kind}  # no token: the last look
        assert look["Next"] == wait["Next"]


def test_every_task_retries_transient_lambda_errors(definition: dict[str, Any]) -> None:
    for name, state in every_state(definition).items():
        if state["Type"] == "Task":
            retried = {error for rule in state["Retry"] for error in rule["ErrorEquals"]}
            assert retried >= LAMBDA_ERRORS or "States.ALL" in retried, name


def test_every_stage_after_the_first_change_is_caught_into_rollback(definition: dict[str, Any]) -> None:
    for name in (
        "Record rollback point",
        "Wait for snapshot",
        "Snapshot deadline",
        "Deploy frontend",
        "Deploy backend",
        "Wait for migration",
        "Migration deadline",
        "Roll out backend",
        "Wait for rollout",
        "Rollout deadline",
        "Smoke test",
        "Begin bake",
        "Bake",
    ):
        catches = definition["States"][name]["Catch"]
        assert next(c["Next"] for c in catches if c["ErrorEquals"] == ["States.ALL"]) == "Roll back", name


def test_failures_before_any_change_never_reach_rollback(definition: dict[str, Any]) -> None:
    for name in ("Begin launch", "Preflight checks", "Collect approvals"):
        assert definition["States"][name]["Catch"][0]["Next"] == "End unchanged", name


def test_the_approval_wait_has_a_timeout(definition: dict[str, Any]) -> None:
    gate = definition["States"]["Collect approvals"]
    assert gate["Resource"].endswith(".waitForTaskToken")
    assert "TimeoutSecondsPath" in gate or "TimeoutSeconds" in gate
    assert gate["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
