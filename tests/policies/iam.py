"""What IAM grants a recorded call needs, and what each function's policy grants (.chalice/policies/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

POLICIES = Path(__file__).parents[2] / ".chalice" / "policies"

# botocore's service ids whose IAM prefix differs.
_PREFIX = {
    "cloudwatch-logs": "logs",
    "elastic-load-balancing-v2": "elasticloadbalancing",
    "secrets-manager": "secretsmanager",
    "sfn": "states",
}

# Operations whose IAM actions are not their own name, or not only it (the service authorisation reference).
_ACTIONS = {
    "s3.ListObjectsV2": {"s3:ListBucket"},
    "s3.HeadBucket": {"s3:ListBucket"},
    "s3.ListObjectVersions": {"s3:ListBucketVersions"},
    # The copy's source is read too (GetObject, or GetObjectVersion for a recorded version): not told apart here.
    "s3.CopyObject": {"s3:PutObject"},
    "s3.DeleteObjects": {"s3:DeleteObject"},
    # A transaction needs its items' actions, which the recorder notes as calls of their own.
    "dynamodb.TransactWriteItems": set(),
    # Tagged on creation, with the task's roles passed to ECS.
    "ecs.RegisterTaskDefinition": {"ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"},
    "ecs.RunTask": {"ecs:RunTask", "ecs:TagResource", "iam:PassRole"},
    "rds.CreateDBSnapshot": {"rds:CreateDBSnapshot", "rds:AddTagsToResource"},
    "rds.RestoreDBInstanceFromDBSnapshot": {"rds:RestoreDBInstanceFromDBSnapshot", "rds:AddTagsToResource"},
}

_READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet", "ConditionCheck")

# Writes a function is granted that a launch on the local stack does not make, and the test that makes them.
EXERCISED_BY_UNIT_TESTS = {
    ("deploy_backend", "ecs:UpdateService"): "test_deploy_stages.py: a profile without migrations rolls at once",
    ("check_backend", "ecs:StopTask"): "test_deploy_stages.py: a migration past its deadline is stopped",
}
# The Lambda runtime writes the function's logs and its traces (X-Ray is on), not the function's code.
RUNTIME_ACTIONS = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def actions_for(operation: str) -> set[str]:
    """The IAM actions a call needs: `operation` as the recorder names it, `<service id>.<Operation>`."""
    if operation in _ACTIONS:
        return _ACTIONS[operation]
    service, name = operation.split(".", 1)
    return {f"{_PREFIX.get(service, service)}:{name}"}


def is_write(action: str) -> bool:
    return not action.split(":", 1)[1].startswith(_READS)


def granted(policy: dict[str, Any]) -> set[str]:
    """The actions a policy allows (this project's policies name actions, never wildcards)."""
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            named = statement["Action"]
            actions |= {named} if isinstance(named, str) else set(named)
    return actions


def policies() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(POLICIES.glob("*.json"))}


def ungranted(calls: set[tuple[str, str]], by_function: dict[str, dict[str, Any]]) -> list[str]:
    """Each call a function made that its policy does not grant."""
    missing = []
    for function, operation in sorted(calls):
        allowed = granted(by_function[function]) if function in by_function else set()
        missing += [f"{function}: {operation} needs {action}" for action in sorted(actions_for(operation) - allowed)]
    return missing


def unexercised_writes(calls: set[tuple[str, str]], by_function: dict[str, dict[str, Any]]) -> list[str]:
    """Each write a function's policy grants that the function never made."""
    made: dict[str, set[str]] = {}
    for function, operation in calls:
        made.setdefault(function, set()).update(actions_for(operation))
    unused = []
    for function, policy in sorted(by_function.items()):
        for action in sorted(granted(policy) - made.get(function, set()) - RUNTIME_ACTIONS):
            if is_write(action) and (function, action) not in EXERCISED_BY_UNIT_TESTS:
                unused.append(f"{function}: {action} is granted and never made")
    return unused
