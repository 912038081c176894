"""The controller's watch over itself, for the template: its alarms (paging through the paging topic) and its
CloudWatch dashboard, made from the functions the Chalice config declares."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.platform.telemetry import NAMESPACE, ROLLBACKS_FAILED, SERVICE, UNFINISHED

# The functions the state machine invokes: a domain error is how they end a launch on purpose (caught by
# the ASL), so Lambda's Errors count those too. Their alarm counts what is not on purpose: the steps that
# failed on something other than a launch error (StepFaults, the harness's metric), the invocations Step
# Functions saw time out, and throttles.
EVENT_DRIVEN = ("api_handler", "launch_events", "execution_ended", "watch_launches")
PAGING = {"Ref": "PagingTopic"}
ONE_MINUTE = 60


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _metric(
    metric_id: str, namespace: str, name: str, dimensions: dict[str, Any], stat: str = "Sum", period: int = ONE_MINUTE
) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def _alarm(
    name: str,
    description: str,
    metrics: list[dict[str, Any]],
    expression: str,
    period: int = ONE_MINUTE,
    evaluation_periods: int = 1,
    missing: str = "notBreaching",
) -> dict[str, Any]:
    """An alarm on the sum of `metrics` (metric math), at 1 or more, paging and telling when it clears."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": _sub(f"${{NamePrefix}}-{name}"),
            "AlarmDescription": description,
            "ActionsEnabled": True,
            "AlarmActions": [PAGING],
            "OKActions": [PAGING],
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1,
            "EvaluationPeriods": evaluation_periods,
            "DatapointsToAlarm": evaluation_periods,
            "TreatMissingData": missing,
            "Metrics": [
                *metrics,
                {"Id": "total", "Expression": expression, "Label": name, "ReturnData": True, "Period": period},
            ],
        },
    }


def controller_alarms(functions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The alarms by logical id; `functions` maps each Chalice function name to its logical id."""
    machine = {"StateMachineArn": {"Ref": "LaunchStateMachine"}}
    alarms = {
        # Every planned end (rolled back, blocked, rejected, expired, aborted) is a Fail state, which Step Functions
        # counts in ExecutionsFailed: that metric is what launches do, not what needs a person.
        "LaunchNeedsAPersonAlarm": _alarm(
            "launch-needs-a-person",
            "A launch needs a person: its execution timed out, was stopped by hand, or ended without its finish "
            "(the page from execution_ended names it), or its rollback failed (the environment stays locked; the "
            "page names the manual steps). Launches rolled back, blocked, rejected, expired or aborted ended on "
            "purpose and do not page",
            [
                _metric("timedout", "AWS/States", "ExecutionsTimedOut", machine),
                _metric("aborted", "AWS/States", "ExecutionsAborted", machine),
                _metric("unfinished", NAMESPACE, UNFINISHED, {"service": SERVICE}),
                _metric("rollbacks", NAMESPACE, ROLLBACKS_FAILED, {"service": SERVICE}),
            ],
            "FILL(timedout, 0) + FILL(aborted, 0) + FILL(unfinished, 0) + FILL(rollbacks, 0)",
        ),
        "ApiServerErrorsAlarm": _alarm(
            "api-5xx",
            "The API answered 5xx: a caller's mistake is a 4xx, so a 5xx is the controller's fault (see the "
            "API function's log by request id)",
            [_metric("errors", "AWS/ApiGateway", "5XXError", {"ApiName": _sub("${NamePrefix}-api"), "Stage": "api"})],
            "FILL(errors, 0)",
            period=300,
        ),
        "ApprovalEmailsAlarm": _alarm(
            "approval-emails-failed",
            "Approval emails could not be published (the request_approvals step, retried) or SNS could not "
            "deliver them: approvers are not being asked",
            [
                _metric("published", NAMESPACE, "ApprovalEmailsFailed", {"service": SERVICE}, period=300),
                _metric(
                    "delivered",
                    "AWS/SNS",
                    "NumberOfNotificationsFailed",
                    {"TopicName": {"Fn::GetAtt": ["ApprovalsTopic", "TopicName"]}},
                    period=300,
                ),
            ],
            "FILL(published, 0) + FILL(delivered, 0)",
            period=300,
        ),
        "StuckLaunchesAlarm": _alarm(
            "launch-stuck",
            "A launch has been in one status longer than its profile's deadlines allow (the watch_launches log "
            "names it), or the watch itself has stopped reporting",
            [_metric("stuck", NAMESPACE, "LaunchesStuck", {"service": SERVICE}, stat="Maximum", period=600)],
            "stuck",
            period=600,
            evaluation_periods=2,
            missing="breaching",  # no figure for 20 minutes: the watch is not running
        ),
    }
    for name, logical_id in sorted(functions.items()):
        lambda_name = {"FunctionName": {"Ref": logical_id}}
        throttles = _metric("throttles", "AWS/Lambda", "Throttles", lambda_name)
        if name in EVENT_DRIVEN:
            metrics = [_metric("errors", "AWS/Lambda", "Errors", lambda_name), throttles]
            expression = "FILL(errors, 0) + FILL(throttles, 0)"
            what = "errors or throttles"
        else:
            arn = {"LambdaFunctionArn": {"Fn::GetAtt": [logical_id, "Arn"]}}
            metrics = [
                _metric("faults", NAMESPACE, "StepFaults", {"service": SERVICE, "function": name}),
                _metric("timeouts", "AWS/States", "LambdaFunctionsTimedOut", arn),
                throttles,
            ]
            expression = "FILL(faults, 0) + FILL(timeouts, 0) + FILL(throttles, 0)"
            what = "steps that failed on something other than a launch error, timed out, or were throttled"
        alarms[f"{logical_id}FaultsAlarm"] = _alarm(
            f"{name.replace('_', '-')}-faults", f"The {name} function: {what}", metrics, expression
        )
    return alarms


def dashboard(functions: dict[str, str], alarms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One dashboard: the launches (by environment), their durations, the state machine, the functions, the
    API, and the alarms' states."""

    def search(expression: str, stat: str, period: int = 3600) -> list[list[dict[str, Any]]]:
        return [[{"expression": f"SEARCH('{expression}', '{stat}', {period})", "id": f"e{stat.lower()}"}]]

    launches = "{" + NAMESPACE + ",environment,service} MetricName="
    ended = " OR ".join(
        f'"{name}"'
        for name in (
            "LaunchesStarted",
            "LaunchesSucceeded",
            "LaunchesRolledBack",
            "LaunchesRollbackFailed",
            "LaunchesBlocked",
            "LaunchesRejected",
            "LaunchesExpired",
            "LaunchesAborted",
            "LaunchesFailed",
        )
    )
    durations = " OR ".join(
        f'"{name}"' for name in ("LaunchDuration", "ApprovalWait", "BreachToRollback", "RollbackDuration")
    )
    alarm_arns = [
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
        + alarm["Properties"]["AlarmName"]["Fn::Sub"]
        for alarm in alarms.values()
    ]

    def widget(
        title: str, metrics: list[Any], x: int, y: int, stat: str = "Sum", view: str = "timeSeries"
    ) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {"title": title, "region": "${AWS::Region}", "view": view, "stat": stat, "metrics": metrics},
        }

    machine = "${LaunchStateMachine}"
    body = {
        "widgets": [
            {
                "type": "alarm",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 4,
                "properties": {"title": "The controller's alarms", "alarms": alarm_arns},
            },
            widget("Launches by outcome (per hour)", search(f"{launches}({ended})", "Sum"), 0, 4),
            widget(
                "Launch, sign-off, breach-to-rollback, rollback (s)", search(f"{launches}({durations})", "p50"), 12, 4
            ),
            widget(
                "Stage durations (s)",
                search("{" + NAMESPACE + ',environment,service,stage} MetricName="StageDuration"', "Average"),
                0,
                10,
            ),
            widget(
                "Executions",
                [
                    ["AWS/States", name, "StateMachineArn", machine]
                    for name in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
                ],
                12,
                10,
            ),
            widget(
                "Functions: errors and throttles",
                [
                    ["AWS/Lambda", metric, "FunctionName", f"${{{logical_id}}}"]
                    for logical_id in sorted(functions.values())
                    for metric in ("Errors", "Throttles")
                ],
                0,
                16,
            ),
            widget(
                "API: 4xx, 5xx, p95 latency",
                [
                    ["AWS/ApiGateway", "4XXError", "ApiName", "${NamePrefix}-api", "Stage", "api"],
                    ["AWS/ApiGateway", "5XXError", "ApiName", "${NamePrefix}-api", "Stage", "api"],
                    [
                        "AWS/ApiGateway",
                        "Latency",
                        "ApiName",
                        "${NamePrefix}-api",
                        "Stage",
                        "api",
                        {"stat": "p95", "yAxis": "right"},
                    ],
                ],
                12,
                16,
            ),
            widget(
                "Stuck launches, approval emails failed, step faults",
                [
                    [NAMESPACE, "LaunchesStuck", "service", SERVICE, {"stat": "Maximum"}],
                    [NAMESPACE, "ApprovalEmailsFailed", "service", SERVICE],
                    *search("{" + NAMESPACE + ',function,service} MetricName="StepFaults"', "Sum", 300),
                ],
                0,
                22,
            ),
        ]
    }
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": _sub("${NamePrefix}"),
            "DashboardBody": _sub(json.dumps(body, separators=(",", ":"))),
        },
    }


def monitoring_resources(functions: dict[str, str]) -> dict[str, dict[str, Any]]:
    alarms = controller_alarms(functions)
    return {**alarms, "ControllerDashboard": dashboard(functions, alarms)}
