"""AWS faults injected into every stage of real launches, and the state each launch ends in.

The fault table of docs/faults.md lists the same cases; a test below keeps the two in step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from localaws.infrastructure import backend_image, site_build

from chalicelib.domain.artifacts import pinned_image
from launchctl.client import ControllerApi, is_final
from tests.integration.helpers import approve_all, drive, lock_holder, next_version, pages_of, snapshot, start, wait

pytestmark = pytest.mark.integration

FAULTS_PAGE = Path(__file__).parents[2] / "docs" / "faults.md"

# (function, operation, matching calls let through first, how the launch ends, what it changed and left)
HARD_ERRORS = [
    ("begin_launch", "dynamodb.PutItem", 0, "FAILED", "nothing changed"),
    ("preflight", "s3.GetBucketVersioning", 0, "BLOCKED", "nothing changed"),
    ("request_approvals", "sns.Publish", 0, "FAILED", "nothing changed"),
    ("record_rollback_point", "rds.CreateDBSnapshot", 0, "ROLLED_BACK", "nothing changed"),
    ("record_rollback_point", "s3.HeadObject", 2, "ROLLED_BACK", "nothing changed"),
    ("record_rollback_point", "s3.PutObject", 0, "ROLLED_BACK", "nothing changed"),
    ("deploy_frontend", "s3.CopyObject", 1, "ROLLED_BACK", "site restored"),
    ("deploy_backend", "ecs.RunTask", 0, "ROLLED_BACK", "site restored; database untouched"),
    ("await_event", "ecs.DescribeTasks", 0, "ROLLED_BACK", "site restored; database restored beside"),
    ("deploy_backend", "ecs.UpdateService", 0, "ROLLED_BACK", "site restored; database restored beside"),
    (
        "smoke_test",
        "secrets-manager.GetSecretValue",
        0,
        "ROLLED_BACK",
        "site, service restored; database restored beside",
    ),
    ("begin_bake", "cloudwatch.PutMetricAlarm", 0, "ROLLED_BACK", "site, service restored; database restored beside"),
    (
        "bake_checkpoint",
        "cloudwatch.DescribeAlarms",
        0,
        "ROLLED_BACK",
        "site, service restored; database restored beside",
    ),
]

# Throttled once each in one launch; botocore's standard retries absorb every one.
THROTTLES = [
    ("begin_launch", "dynamodb.PutItem"),
    ("preflight", "s3.GetBucketVersioning"),
    ("request_approvals", "sns.Publish"),
    ("record_rollback_point", "rds.CreateDBSnapshot"),
    ("deploy_frontend", "s3.CopyObject"),
    ("deploy_frontend", "cloudfront.CreateInvalidation"),
    ("deploy_backend", "ecs.RunTask"),
    ("deploy_backend", "ecs.UpdateService"),
    ("await_event", "ecs.DescribeServices"),
    ("launch_events", "dynamodb.Query"),
    ("smoke_test", "secrets-manager.GetSecretValue"),
    ("begin_bake", "cloudwatch.PutMetricAlarm"),
    ("bake_checkpoint", "cloudwatch.DescribeAlarms"),
    ("finish_launch", "sns.Publish"),
]

# Lambda killed right after a call that changed something; (function, operation, let through, calls in total).
TIMEOUTS = [
    ("begin_launch", "dynamodb.PutItem", 0, None),
    ("record_rollback_point", "rds.CreateDBSnapshot", 0, 1),
    ("record_rollback_point", "s3.CopyObject", 1, None),
    ("deploy_frontend", "s3.CopyObject", 1, 3),
    ("deploy_backend", "ecs.RunTask", 0, 1),
    ("deploy_backend", "ecs.UpdateService", 0, 1),
    ("await_event", "ecs.DescribeServices", 0, None),
    ("smoke_test", "secrets-manager.GetSecretValue", 0, None),
    ("begin_bake", "cloudwatch.PutMetricAlarm", 0, 3),
    ("finish_launch", "dynamodb.TransactWriteItems", 0, None),
]


def notifications(stack: Any, launch_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The launch's notifications, once the finish has sent one (it notifies after the final status)."""
    deadline = time.monotonic() + timeout
    while not (sent := stack.notifications(launch_id, "ended")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sent


def assert_explained(launch: dict[str, Any], error_code: str, stage_could_write: bool = True) -> None:
    """The timeline ends with the finish, and the error is named, not swallowed."""
    assert launch["timeline"][-1]["kind"] == "finished", [
        (e["at"], e["kind"], e["message"]) for e in launch["timeline"]
    ]
    assert error_code in launch["error"]["cause"], launch["error"]
    if not stage_could_write:
        return  # DynamoDB refused the failing stage its own writes; the finish wrote the cause
    failed = [event for event in launch["timeline"] if event["kind"] == "stage_failed"]
    assert any(error_code in event["message"] for event in failed), launch["timeline"]


@pytest.mark.parametrize(("function", "operation", "after", "status", "left"), HARD_ERRORS)
def test_a_hard_error_ends_the_launch_in_a_defined_state_with_the_environment_as_before(
    stack: Any, api: ControllerApi, function: str, operation: str, after: int, status: str, left: str
) -> None:
    before = snapshot(stack)
    instances = len(stack.environment_client("rds").describe_db_instances()["DBInstances"])
    stack.faults.add(function, operation, "error", times=100, after=after)
    launch = drive(stack, api, next_version())
    assert launch["status"] == status, launch["timeline"]
    assert_explained(launch, "AccessDenied", stage_could_write=not operation.startswith("dynamodb."))
    assert snapshot(stack) == before
    assert lock_holder() is None
    restored = len(stack.environment_client("rds").describe_db_instances()["DBInstances"]) - instances
    assert restored == (1 if "database restored" in left else 0)
    if left == "nothing changed":
        assert launch["changes"] == []
    assert notifications(stack, launch["launch_id"])[-1]["status"] == status


def test_throttling_at_every_stage_is_absorbed_and_the_launch_succeeds(stack: Any, api: ControllerApi) -> None:
    faults = [stack.faults.add(function, operation, "throttle") for function, operation in THROTTLES]
    launch = drive(stack, api, next_version())
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    assert [n["status"] for n in notifications(stack, launch["launch_id"])] == ["SUCCEEDED"]
    assert [(f.function, f.operation, f.fired) for f in faults] == [(f, o, 1) for f, o in THROTTLES]
    assert not [event for event in launch["timeline"] if event["kind"] == "stage_failed"]


def test_a_lambda_killed_mid_step_at_every_stage_is_retried_without_doing_its_work_twice(
    stack: Any, api: ControllerApi
) -> None:
    faults = [
        stack.faults.add(function, operation, "timeout", after=after) for function, operation, after, _ in TIMEOUTS
    ]
    version = next_version()
    served = len(stack.site_objects())
    launch = drive(stack, api, version)
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    # The backup copies, killed after the second of several at once: each object is copied once.
    assert stack.faults.calls[("record_rollback_point", "s3.CopyObject")] == served
    # The finish's retry notifies after the final status; once it has, every fault has fired.
    assert [n["status"] for n in notifications(stack, launch["launch_id"])] == ["SUCCEEDED"]
    assert [f.fired for f in faults] == [1] * len(TIMEOUTS)
    for function, operation, _, total in TIMEOUTS:
        if total is not None:
            assert stack.faults.calls[(function, operation)] == total, (function, operation)
    assert stack.faults.calls[("deploy_backend", "ecs.RegisterTaskDefinition")] == 2  # the migration's, the service's
    definition = stack.environment_client("ecs").describe_task_definition(
        taskDefinition=stack.service_task_definition()
    )
    pinned = pinned_image(backend_image(version), launch["artifacts"]["backend_digest"])
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == pinned
    assert lock_holder() is None


def test_a_lambda_killed_mid_rollback_is_retried_and_rolls_back_once(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    stack.faults.add("roll_back", "ecs.UpdateService", "timeout")
    # Killed again on its retry, right after the first object the frontend's restore copies back (several
    # at once): the next retry copies each of the others once, and nothing it already restored.
    stack.faults.add("roll_back", "s3.CopyObject", "timeout")
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert stack.faults.calls[("roll_back", "ecs.UpdateService")] == 1
    release = site_build(version)
    to_restore = [key for key, body in before[1].items() if release.get(key) != body]
    assert len(to_restore) > 1
    assert stack.faults.calls[("roll_back", "s3.CopyObject")] == len(to_restore)
    assert snapshot(stack) == before


def test_a_rollback_that_keeps_failing_holds_the_lock_pages_and_waits_for_unlock(
    stack: Any, api: ControllerApi
) -> None:
    before_definition, before_site = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    stack.faults.add("roll_back", "ecs.UpdateService", "error", times=100)
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLBACK_FAILED", launch["timeline"]
    assert "AccessDenied" in launch["error"]["cause"]
    # The documented partial state: the site is restored, the service still runs the release.
    assert stack.site_objects() == before_site
    assert stack.service_task_definition() != before_definition
    assert lock_holder() == launch["launch_id"]
    [page] = notifications(stack, launch["launch_id"])
    assert page["subject"].startswith("[local] ACTION NEEDED")
    assert pages_of(stack, launch["launch_id"]) == [page]  # the on-call is paged with the same message
    assert any("backend" in step for step in page["manual_steps"])
    # Nobody launches on top of it.
    with pytest.raises(Exception, match="409") as refused:
        start(stack, api, next_version())
    assert "launchctl unlock local" in str(refused.value)
    # A person finishes the rollback by hand, then unlocks with a reason.
    backend = stack.profile.backend
    stack.environment_client("ecs").update_service(
        cluster=backend.cluster, service=backend.service, taskDefinition=before_definition
    )
    unlocked = api.unlock("local", "rolled acme-api back to the previous revision by hand")
    assert unlocked["was_held_by"] == launch["launch_id"]
    assert lock_holder() is None
    final = wait(api, launch["launch_id"], is_final)
    assert final["timeline"][-1]["kind"] == "unlocked"


def test_an_environment_role_that_no_longer_trusts_the_controller_blocks_the_launch_with_one_failure(
    stack: Any, api: ControllerApi
) -> None:
    before = snapshot(stack)
    stack.break_check("access.environment_role")
    try:
        launch = wait(api, start(stack, api, next_version()))
    finally:
        stack.repair("access.environment_role")
    assert launch["status"] == "BLOCKED", launch["timeline"]
    checks = launch["results"]["preflight"]["checks"]
    [failure] = [check for check in checks if check["result"] == "fail"]
    assert failure["id"] == "access.environment_role"
    assert failure["resource"] == stack.environment_role
    assert failure["evidence"]["unreadable"] == "AccessDenied"
    assert {check["result"] for check in checks if check is not failure} == {"skipped"}
    assert snapshot(stack) == before
    assert lock_holder() is None


def test_trust_withdrawn_mid_launch_stops_it_before_any_change_and_says_which_role(
    stack: Any, api: ControllerApi
) -> None:
    """The role stops trusting the controller while the launch waits for sign-off: the next stage cannot
    take the role, nothing has changed yet, and the launch ends ROLLED_BACK with the refusal named (a
    session already held would last until it expires, as on AWS; each stage's is the launch's own)."""
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    gate = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert gate["status"] == "AWAITING_APPROVAL", gate["timeline"]
    stack.break_check("access.environment_role")
    try:
        approve_all(stack, api, launch_id)
        launch = wait(api, launch_id)
    finally:
        stack.repair("access.environment_role")
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["changes"] == []
    assert_explained(launch, "AccessDenied")
    assert stack.environment_role in launch["error"]["cause"]
    assert snapshot(stack) == before
    assert lock_holder() is None


def test_the_fault_page_lists_every_injected_fault() -> None:
    table = FAULTS_PAGE.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for function, operation, _, status, _ in HARD_ERRORS:
        assert any(f"`{function}`" in row and f"`{operation}`" in row and status in row for row in rows), function
    assert any("throttl" in row.lower() and "SUCCEEDED" in row for row in rows)
    assert any("killed" in row.lower() and "SUCCEEDED" in row for row in rows)
    assert any("`roll_back`" in row and "ROLLBACK_FAILED" in row for row in rows)
