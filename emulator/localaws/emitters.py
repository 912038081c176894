"""The events AWS's services emit where moto emits none, at the moment AWS would, in AWS's documented shapes.

- RDS: a manual snapshot is `creating` for a moment, then `available` with "Manual snapshot created"
  (RDS-EVENT-0042), as RDS takes it in the background.
- CloudWatch: an alarm whose state changes emits "CloudWatch Alarm State Change".
- ECS: the local scheduler (localaws.ecs_scheduler) emits its deployments' and tasks' changes; an
  `update_service` starts the new deployment at once, so its answer names it as ECS's does.
- Step Functions: an execution that ends emits "Step Functions Execution Status Change", and counts in
  AWS/States' ExecutionsSucceeded, ExecutionsFailed, ExecutionsAborted or ExecutionsTimedOut.

One listener per process (the stack's EventBridge): moto's backends are the process's. Once installed the
patches stay, but change nothing while no stack listens: a test using plain moto after a stack has stopped in
the same process sees moto as it is."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localaws.eventbridge import service_event

Emit = Callable[[dict[str, Any]], None]

_listeners: list[Emit] = []
_service_updated: list[Callable[[Any, Any], None]] = []
_installed = False
# How long a snapshot takes locally (a test may make it longer, the stack's restore() puts it back).
DEFAULT_SNAPSHOT_SECONDS = 0.3
SNAPSHOT_SECONDS = DEFAULT_SNAPSHOT_SECONDS


def listen(emit: Emit) -> None:
    install()
    _listeners.append(emit)


def forget(emit: Emit) -> None:
    if emit in _listeners:
        _listeners.remove(emit)


def on_service_updated(hook: Callable[[Any, Any], None]) -> None:
    """`hook(backend, service)` runs inside ECS's UpdateService, before its answer is written."""
    install()
    _service_updated.append(hook)


def forget_service_updates(hook: Callable[[Any, Any], None]) -> None:
    if hook in _service_updated:
        _service_updated.remove(hook)


def emit(event: dict[str, Any]) -> None:
    for listener in list(_listeners):
        listener(event)


def now_iso() -> str:
    """Now as AWS's events write a detail's time: milliseconds and Z."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def alarm_time() -> str:
    """Now as CloudWatch writes an alarm state's timestamp: milliseconds and +0000."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def install() -> None:
    global _installed
    if _installed:
        return
    _snapshots_taken_in_the_background()
    _alarm_state_changes()
    _service_updates_start_deployments()
    _executions_that_end()
    _installed = True


def _snapshots_taken_in_the_background() -> None:
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_snapshot

    def create_db_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        snapshot = original(self, *args, **kwargs)
        if snapshot.snapshot_type != "manual" or not _listeners:
            return snapshot
        snapshot.status = "creating"

        def available() -> None:
            snapshot.status = "available"
            arn = snapshot.db_snapshot_arn
            emit(
                service_event(
                    "aws.rds",
                    "RDS DB Snapshot Event",
                    self.account_id,
                    self.region_name,
                    [arn],
                    {
                        "EventCategories": ["creation"],
                        "SourceType": "SNAPSHOT",
                        "SourceArn": arn,
                        "Date": now_iso(),
                        "Message": "Manual snapshot created",
                        "SourceIdentifier": snapshot.db_snapshot_identifier,
                        "EventID": "RDS-EVENT-0042",
                    },
                )
            )

        timer = threading.Timer(SNAPSHOT_SECONDS, available)
        timer.daemon = True
        timer.start()
        return snapshot

    RDSBackend.create_db_snapshot = create_db_snapshot  # type: ignore[method-assign]


def _alarm_state_changes() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = self.alarms.get(alarm_name)
        before = (alarm.state_value, alarm.state_reason) if alarm else None
        original(self, alarm_name, reason, reason_data, state_value)
        if alarm is None or before is None or before[0] == state_value:
            return
        emit(
            service_event(
                "aws.cloudwatch",
                "CloudWatch Alarm State Change",
                self.account_id,
                self.region_name,
                [alarm.alarm_arn],
                {
                    "alarmName": alarm_name,
                    "configuration": {"description": alarm.description or "", "metrics": []},
                    "previousState": {
                        "reason": before[1] or "",
                        "timestamp": alarm_time(),
                        "value": before[0],
                    },
                    "state": {
                        "reason": reason,
                        "reasonData": reason_data or "{}",
                        "timestamp": alarm_time(),
                        "value": state_value,
                    },
                },
            )
        )

    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]


def _service_updates_start_deployments() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.update_service

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        service = original(self, service_properties)
        for hook in list(_service_updated):
            hook(self, service)
        return service

    EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]


def _executions_that_end() -> None:
    """Step Functions' "Execution Status Change" when moto's interpreter ends an execution."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        if not _listeners:
            return
        execution = self.execution
        status = str(getattr(execution.exec_status, "value", execution.exec_status))

        def epoch_ms(moment: Any) -> int | None:
            return int(moment.timestamp() * 1000) if moment else None

        _count_execution(execution.account_id, execution.region_name, execution.state_machine.arn, status)
        emit(
            service_event(
                "aws.states",
                "Step Functions Execution Status Change",
                execution.account_id,
                execution.region_name,
                [execution.exec_arn],
                {
                    "executionArn": execution.exec_arn,
                    "stateMachineArn": execution.state_machine.arn,
                    "name": execution.name,
                    "status": status,
                    "startDate": epoch_ms(execution.start_date),
                    "stopDate": epoch_ms(execution.stop_date),
                    "input": None,
                    "output": None,
                    "inputDetails": {"included": False},
                    "outputDetails": None,
                    "error": execution.error,
                    "cause": execution.cause,
                },
            )
        )

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


# Step Functions' metric of each way an execution ends (a Fail state's end is FAILED, as an error's is).
EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "ABORTED": "ExecutionsAborted",
    "TIMED_OUT": "ExecutionsTimedOut",
}


def _count_execution(account_id: str, region: str, state_machine_arn: str, status: str) -> None:
    """AWS/States' count of the execution's end, by its state machine, in the account's CloudWatch."""
    from moto.cloudwatch.models import cloudwatch_backends

    name = EXECUTION_METRICS.get(status)
    if name is None:
        return
    cloudwatch_backends[account_id][region].put_metric_data(
        "AWS/States",
        [
            {
                "MetricName": name,
                "Value": 1,
                "Unit": "Count",
                "Timestamp": datetime.now(UTC).replace(tzinfo=None),  # moto keeps its metrics' times naive
                "Dimensions": [{"Name": "StateMachineArn", "Value": state_machine_arn}],
            }
        ],
    )
