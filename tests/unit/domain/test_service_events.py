"""AWS's events, as AWS documents them (tests/fixtures/events), read as a waiting launch reads them, and
routed by the rules both templates deploy."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.event_pattern import WATCHED_EVENTS
from chalicelib.domain.service_events import notice_of
from launchctl.build.target_role import FORWARDED_EVENTS

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching, as moto implements it (the local stack routes with the same)."""
    from moto.events.models import EventPattern

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))


def test_a_completed_deployment_names_the_service_and_its_deployment() -> None:
    notice = notice_of(fixture("ecs-deployment-completed"))
    assert notice is not None
    assert (notice.kind, notice.verdict, notice.deployment_id) == ("rollout", "done", "ecs-svc/123")
    assert notice.resource == "arn:aws:ecs:us-west-2:111122223333:service/default/servicetest"
    assert (notice.account, notice.region) == ("111122223333", "us-west-2")


def test_a_failed_deployment_says_why() -> None:
    notice = notice_of(fixture("ecs-deployment-failed"))
    assert notice is not None
    assert (notice.verdict, notice.reason) == ("failed", "ECS deployment circuit breaker: task failed to start.")


def test_an_in_progress_deployment_decides_nothing() -> None:
    event = fixture("ecs-deployment-completed")
    event["detail"]["eventName"] = "SERVICE_DEPLOYMENT_IN_PROGRESS"
    assert notice_of(event).verdict == "progress"  # type: ignore[union-attr]


def test_a_stopped_task_keeps_its_containers_for_the_launch_to_judge() -> None:
    from chalicelib.domain.service_events import task_outcome

    notice = notice_of(fixture("ecs-task-stopped"))
    assert notice is not None
    assert (notice.kind, notice.verdict) == ("migration", "done")
    assert notice.resource.endswith(":task/example-cluster/a1173316d40a45dea9EXAMPLE")
    assert task_outcome(notice.task or {}, "migrate") == (True, "migration task exited 0")
    failed = fixture("ecs-task-stopped")
    failed["detail"]["containers"][0]["exitCode"] = 3
    assert task_outcome(notice_of(failed).task or {}, "migrate")[0] is False  # type: ignore[union-attr]


def test_a_snapshot_created_is_done_and_one_deleted_is_failed() -> None:
    notice = notice_of(fixture("rds-snapshot-created"))
    assert notice is not None
    assert (notice.kind, notice.verdict) == ("snapshot", "done")
    assert notice.resource == fixture("rds-snapshot-created")["detail"]["SourceArn"]
    deleted = fixture("rds-snapshot-created")
    deleted["detail"] |= {"EventID": "RDS-EVENT-0041", "Message": "Deleted manual snapshot"}
    assert notice_of(deleted).verdict == "failed"  # type: ignore[union-attr]


def test_an_alarm_going_to_alarm_is_a_breach_and_back_to_ok_is_not() -> None:
    notice = notice_of(fixture("cloudwatch-alarm-state-change"))
    assert notice is not None
    assert (notice.kind, notice.verdict) == ("alarm", "failed")
    assert notice.reason.startswith("alarm ServerCpuTooHigh is in ALARM: Threshold Crossed")
    assert notice.happened_at is not None
    assert notice.happened_at.isoformat() == "2019-10-02T17:04:40.989000+00:00"  # the state's own timestamp
    ok = fixture("cloudwatch-alarm-state-change")
    ok["detail"]["state"]["value"] = "OK"
    assert notice_of(ok).verdict == "progress"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"detail-type": "ECS Deployment State Change", "source": "aws.ecs"},
        {**fixture("ecs-deployment-completed"), "detail": {"eventName": "SERVICE_DEPLOYMENT_COMPLETED"}},
        {**fixture("ecs-deployment-completed"), "source": "acme.forged"},
        {**fixture("ecs-deployment-completed"), "detail-type": "ECS Service Action"},
    ],
)
def test_an_event_no_launch_waits_for_is_nothing(event: dict[str, Any]) -> None:
    assert notice_of(event) is None


def test_a_canary_run_that_failed_names_the_canary_its_run_and_why_with_its_times() -> None:
    notice = notice_of(fixture("synthetics-canary-testrun-failure"))
    assert notice is not None
    assert (notice.kind, notice.verdict, notice.canary_name) == ("canary", "failed", "events-bb-1")
    assert notice.resource == "arn:aws:synthetics:us-east-1:123456789012:canary:events-bb-1"
    run = notice.canary_run or {}
    assert (run["Id"], run["Status"]["State"]) == ("d1bb2c2a-2c38-4e42-8b4b-b6cb5d1d4da8", "FAILED")
    assert run["Status"]["StateReason"] == "Failed to find element with selector #sign-in"
    assert run["Timeline"]["Started"] == datetime(2021, 2, 11, 21, 8, 14, tzinfo=UTC)
    passed = copy.deepcopy(fixture("synthetics-canary-testrun-failure"))
    passed["detail-type"] = "Synthetics Canary TestRun Successful"
    passed["detail"] |= {"test-run-status": "PASSED", "canary-run-timeline": {"started": 1613077694000}}
    heard = notice_of(passed)
    assert heard is not None
    assert heard.verdict == "done"
    assert (heard.canary_run or {})["Timeline"]["Started"] == datetime(2021, 2, 11, 21, 8, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "ecs-deployment-completed",
        "ecs-deployment-failed",
        "ecs-task-stopped",
        "rds-snapshot-created",
        "cloudwatch-alarm-state-change",
        "synthetics-canary-testrun-failure",
    ],
)
def test_the_environments_rules_forward_each_event_and_the_controllers_rule_hears_it(name: str) -> None:
    event = fixture(name)
    if name == "rds-snapshot-created":
        assert event["detail"]["SourceIdentifier"].startswith("pre-launch-")
    assert [rule for rule, pattern in FORWARDED_EVENTS.items() if matches(pattern, event)]
    assert matches(WATCHED_EVENTS, event)


def test_the_environments_rules_forward_only_what_a_launch_waits_for() -> None:
    service_task = copy.deepcopy(fixture("ecs-task-stopped"))
    service_task["detail"]["startedBy"] = "ecs-svc/9223370545345641169"
    running = copy.deepcopy(fixture("ecs-task-stopped"))
    running["detail"]["lastStatus"] = "RUNNING"
    other_snapshot = copy.deepcopy(fixture("rds-snapshot-created"))
    other_snapshot["detail"]["SourceIdentifier"] = "rds:nightly-2018-10-06"
    recovered = copy.deepcopy(fixture("cloudwatch-alarm-state-change"))
    recovered["detail"]["state"]["value"] = "OK"
    for event in (service_task, running, other_snapshot, recovered):
        assert not [rule for rule, pattern in FORWARDED_EVENTS.items() if matches(pattern, event)], event


def test_each_forwarded_pattern_is_within_the_controllers_rule() -> None:
    for rule, pattern in FORWARDED_EVENTS.items():
        assert set(pattern["source"]) <= set(WATCHED_EVENTS["source"]), rule
        assert set(pattern["detail-type"]) <= set(WATCHED_EVENTS["detail-type"]), rule


def test_the_local_scheduler_emits_ecs_events_in_aws_shapes(aws: Any) -> None:
    from localaws.ecs_scheduler import EcsScheduler
    from localaws.infrastructure import REGION

    ecs = aws("ecs")
    ecs.create_cluster(clusterName="c")
    definition = ecs.register_task_definition(
        family="f", containerDefinitions=[{"name": "migrate", "image": "i", "memory": 128}]
    )
    arn = definition["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="c", serviceName="s", taskDefinition=arn, desiredCount=1)
    emitted: list[dict[str, Any]] = []
    scheduler = EcsScheduler(REGION, settle_seconds=0, emit=emitted.append)
    scheduler.settle()  # moto's record of the service's creation
    again = ecs.register_task_definition(
        family="f", containerDefinitions=[{"name": "migrate", "image": "j", "memory": 128}]
    )
    ecs.update_service(cluster="c", service="s", taskDefinition=again["taskDefinition"]["taskDefinitionArn"])
    scheduler.settle()
    ecs.run_task(cluster="c", taskDefinition=arn, startedBy="launch/local-1", launchType="FARGATE")
    scheduler.settle()
    names = [(e["detail-type"], e["detail"].get("eventName", e["detail"].get("lastStatus"))) for e in emitted]
    assert ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_IN_PROGRESS") in names
    assert ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED") in names
    assert ("ECS Task State Change", "STOPPED") in names
    documented = {e: fixture(f) for e, f in [("ECS Deployment State Change", "ecs-deployment-completed")]}
    documented["ECS Task State Change"] = fixture("ecs-task-stopped")
    for event in emitted:
        model = documented[event["detail-type"]]
        assert set(event) == set(model)
        assert set(event["detail"]) <= set(model["detail"]), event["detail-type"]
        assert notice_of(event) is not None
        for container in event["detail"].get("containers", []):
            assert set(container) <= set(model["detail"]["containers"][0])


def test_an_execution_that_ended_unfinished_is_heard_by_its_own_rule() -> None:
    from chalicelib.domain.event_pattern import EXECUTIONS_ENDED
    from chalicelib.events.executions import ExecutionEnded

    event = fixture("states-execution-failed")
    assert matches(EXECUTIONS_ENDED, event)
    assert not matches(WATCHED_EVENTS, event)
    ended = ExecutionEnded.model_validate(event["detail"])
    assert (ended.name, ended.status, ended.error) == ("production-20190226-194220-abc123", "FAILED", "States.Runtime")
    succeeded = copy.deepcopy(event)
    succeeded["detail"]["status"] = "SUCCEEDED"
    assert not matches(EXECUTIONS_ENDED, succeeded)
