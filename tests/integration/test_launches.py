"""Whole launches: the real ASL executed by moto, the real Lambda code behind the bridge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from launchctl.client import ControllerApi, is_final
from launchctl.infrastructure import backend_image

pytestmark = pytest.mark.integration

APPROVERS = {"tech_lead": "tess@acme.example", "product_manager": "pat@acme.example", "qa_lead": "quinn@acme.example"}
_versions = iter(range(100, 1000))


@pytest.fixture
def api(stack: Any) -> Iterator[ControllerApi]:
    yield ControllerApi(stack.api_url)
    stack.site.unhealthy_images.clear()
    stack.scheduler.failing_images.clear()
    assert stack.bridge is not None
    stack.bridge.clear_faults()


def start(stack: Any, api: ControllerApi, version: str) -> str:
    return api.start(
        environment="local",
        version=version,
        git_sha="0123456789abcdef",
        frontend_artifact=stack.publish_release(version),
        backend_image=backend_image(version),
        requested_by="riley@acme.example",
    )["launch_id"]


def wait(api: ControllerApi, launch_id: str, until: Any = is_final, timeout: float = 60) -> dict[str, Any]:
    return api.wait(launch_id, until, timeout=timeout, interval=0.1)


def approve_all(api: ControllerApi, launch_id: str) -> None:
    launch = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert launch["status"] == "AWAITING_APPROVAL", launch["timeline"]
    for role, person in APPROVERS.items():
        api.decide(launch_id, role, person, "approve")


def run_approved(stack: Any, api: ControllerApi, version: str) -> dict[str, Any]:
    """Start a launch of `version`, give every sign-off, and return it once it has ended."""
    launch_id = start(stack, api, version)
    approve_all(api, launch_id)
    return wait(api, launch_id)


def snapshot(stack: Any) -> tuple[str, dict[str, bytes]]:
    return stack.service_task_definition(), stack.site_objects()


def next_version() -> str:
    return f"2.{next(_versions)}.0"


def test_a_healthy_release_goes_live_and_succeeds(stack: Any, api: ControllerApi) -> None:
    version = next_version()
    launch = run_approved(stack, api, version)
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    definition, site = snapshot(stack)
    image = stack.client("ecs").describe_task_definition(taskDefinition=definition)["taskDefinition"]
    assert image["containerDefinitions"][0]["image"] == backend_image(version)
    assert f"Acme {version}".encode() in site["index.html"]
    assert [c["label"] for c in launch["results"]["bake"]["checkpoints"]] == ["T+3s", "T+6s"]
    assert {a["role"] for a in launch["approvals"]} == set(APPROVERS)
    assert (
        stack.client("stepfunctions").describe_execution(executionArn=launch["execution_arn"])["status"] == "SUCCEEDED"
    )


def test_a_failed_smoke_test_rolls_back_frontend_and_backend(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    launch = run_approved(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "SmokeTestFailed"
    assert snapshot(stack) == before
    assert launch["changes"] == ["backend", "frontend"]
    execution = stack.client("stepfunctions").describe_execution(executionArn=launch["execution_arn"])
    assert execution["status"] == "FAILED"
    assert execution["error"] == "LaunchRolledBack"


def test_a_blocking_preflight_failure_changes_nothing(stack: Any, api: ControllerApi) -> None:
    bucket = stack.profile.frontend.site_bucket
    s3 = stack.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        before = snapshot(stack)
        launch_id = start(stack, api, next_version())
        launch = wait(api, launch_id)
    finally:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert launch["status"] == "BLOCKED", launch["timeline"]
    assert launch["changes"] == []
    assert snapshot(stack) == before
    assert not any(event["stage"] in {"rollback", "frontend", "backend"} for event in launch["timeline"])


def test_a_rejected_approval_changes_nothing(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    api.decide(launch_id, "tech_lead", "tess@acme.example", "approve")
    api.decide(launch_id, "qa_lead", "quinn@acme.example", "reject", "regression in checkout")
    launch = wait(api, launch_id)
    assert launch["status"] == "REJECTED", launch["timeline"]
    assert "regression in checkout" in launch["error"]["cause"]
    assert launch["rollback_point"] is None
    assert snapshot(stack) == before


def test_an_alarm_during_the_bake_rolls_back_before_the_next_checkpoint(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    approve_all(api, launch_id)
    assert wait(api, launch_id, lambda item: item["status"] == "BAKING" or is_final(item))["status"] == "BAKING"
    alarm = stack.profile.bake.alarm_names[0]
    stack.set_alarm(alarm, "ALARM")
    tripped = time.monotonic()
    try:
        launch = wait(api, launch_id)
    finally:
        stack.set_alarm(alarm, "OK")
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "BakeBreached"
    assert alarm in launch["error"]["cause"]
    # Rolled back at the next poll, not at the next checkpoint: the last checkpoint never passed.
    assert "T+6s" not in [c["label"] for c in launch["results"]["bake"]["checkpoints"]]
    assert time.monotonic() - tripped < stack.profile.bake.checkpoints[-1]
    assert snapshot(stack) == before


def test_a_failed_ecs_rollout_rolls_back(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.scheduler.failing_images.add(backend_image(version))
    launch = run_approved(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "BackendRolloutFailed"
    assert snapshot(stack) == before


def test_the_lock_is_released_on_every_path(stack: Any, api: ControllerApi) -> None:
    from chalicelib.wiring import launch_store

    assert launch_store().lock_holder("local") is None
