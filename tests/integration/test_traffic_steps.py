"""Canary and linear rollouts on the local stack: ECS's own strategy moves the traffic, the controller's
lifecycle hook judges each step against the old revision over the same seconds, and a worse release is
rolled back by ECS at the step that found it."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.infrastructure import backend_image

from launchctl.client import ControllerApi, is_final
from tests.integration.helpers import approve_all, drive, lock_holder, next_version, start, wait

pytestmark = pytest.mark.integration


def in_steps(stack: Any, **traffic: Any) -> None:
    """The local profile with the backend's traffic moved in steps (the stack's restore puts it back)."""
    stack.shift_traffic_in_steps(**traffic)


def steps_of(launch: dict[str, Any]) -> list[tuple[float, str]]:
    """Each judged step: the release's share and the outcome."""
    return [
        (event["details"]["weight"], event["details"]["outcome"])
        for event in launch["timeline"]
        if event["kind"] == "traffic_step" and event["details"].get("outcome")
    ]


def test_a_canary_worse_than_its_baseline_is_rolled_back_by_ecs_at_its_first_step(
    stack: Any, api: ControllerApi
) -> None:
    in_steps(stack)
    before = stack.service_task_definition()
    version = next_version()
    stack.site.flaky_images.add(backend_image(version))
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert steps_of(launch) == [(10.0, "fail")], launch["timeline"]
    judged = next(e for e in launch["timeline"] if e["kind"] == "traffic_step" and e["details"].get("outcome"))
    assert judged["details"]["error_p_value"] < 0.05
    assert judged["details"]["new"]["errors"] > 0
    assert judged["details"]["old"]["errors"] == 0
    assert "ECS deployment rolled back" in str(launch["error"]), launch["error"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None
    # What the release served, counted on its own target group from its step to the backend's restore.
    exposure = next(e for e in launch["timeline"] if e["kind"] == "finished")["details"]["exposure"]
    assert exposure["upper_bound"] is False
    assert exposure["requests"] >= judged["details"]["new"]["requests"]
    assert 0 < exposure["errors"] < exposure["requests"]


def test_a_linear_rollout_as_good_as_its_baseline_takes_every_step_to_all_the_traffic(
    stack: Any, api: ControllerApi
) -> None:
    in_steps(stack, shift="linear", linear_step_percent=50.0)
    launch = drive(stack, api, next_version())
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    assert steps_of(launch) == [(50.0, "pass"), (100.0, "pass")]
    balancer = stack.environment_client("ecs").describe_services(
        cluster=stack.profile.backend.cluster, services=[stack.profile.backend.service]
    )["services"][0]["loadBalancers"][0]
    assert balancer["targetGroupArn"].split("/")[-2].endswith("green")  # the release's group serves production now


def test_a_hook_killed_mid_step_makes_ecs_roll_back_and_the_launch_undoes_the_rest(
    stack: Any, api: ControllerApi
) -> None:
    """ECS does not invoke a hook that failed again: it rolls the deployment back (its documentation's rule for a
    hook that returns no hookStatus or fails), and the launch rolls back what else it changed."""
    in_steps(stack)
    before = stack.service_task_definition()
    killed = stack.faults.add("judge_traffic_step", "dynamodb.Query", "timeout")
    launch = drive(stack, api, next_version())
    assert killed.fired == 1
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert "a lifecycle hook answered None at PRODUCTION_TRAFFIC_SHIFT" in str(launch["error"]), launch["error"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None


def judged_steps(item: dict[str, Any]) -> int:
    return len(steps_of(item))


def test_a_release_that_turns_bad_after_its_first_step_fails_at_the_later_step_and_ecs_rolls_it_back(
    stack: Any, api: ControllerApi
) -> None:
    """Its first step passes; from then on it fails one request in five: the step that gives it all the
    traffic has no old revision to compare with, and the bake's threshold fails it."""
    in_steps(stack, shift="linear", linear_step_percent=50.0)
    before = stack.service_task_definition()
    version = next_version()
    launch_id = start(stack, api, version)
    approve_all(stack, api, launch_id)
    first = wait(api, launch_id, lambda item: judged_steps(item) >= 1 or is_final(item))
    assert steps_of(first) == [(50.0, "pass")], first["timeline"]
    stack.site.flaky_images.add(backend_image(version))
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert steps_of(launch) == [(50.0, "pass"), (100.0, "fail")], launch["timeline"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None


def test_an_abort_mid_step_rolls_the_service_back_and_the_rest_with_it(stack: Any, api: ControllerApi) -> None:
    """The abort reaches the launch while ECS holds the canary's step: the launch rolls back at once (the
    service's rollback supersedes ECS's deployment); the hook would fail the step at its next callback."""
    in_steps(stack)
    before = stack.service_task_definition()
    launch_id = start(stack, api, next_version())
    approve_all(stack, api, launch_id)
    watching = wait(
        api, launch_id, lambda item: any(e["kind"] == "traffic_step" for e in item["timeline"]) or is_final(item)
    )
    assert watching["status"] == "DEPLOYING", watching["timeline"]
    api.abort(launch_id, "the on-call saw checkout errors in the canary")
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "LaunchAborted"
    assert stack.service_task_definition() == before
    assert lock_holder() is None
    finished = next(e for e in launch["timeline"] if e["kind"] == "finished")
    assert finished["details"]["exposure"]["upper_bound"] is False  # counted on the release's own target group
