"""The least-privilege check: each recorded call's IAM needs (action, resource) against the policies each
function's role holds on the local stack, and each write a policy grants against the calls made."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

Call = tuple[str, str, str]  # (function, IAM action, resource ARN or "*")

_READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet", "ConditionCheck")

# Writes a function is granted that a launch on the local stack does not make, and the test that makes them.
EXERCISED_BY_UNIT_TESTS = {
    ("deploy_backend@environment", "ecs:UpdateService"): "test_backend.py: a profile without migrations rolls at once",
    ("await_event", "states:SendTaskFailure"): "test_waits.py: a look that sees the wait failed answers at once "
    "(on the local stack the failures are mostly heard as events first)",
    ("roll_back@environment", "cloudfront-keyvaluestore:DeleteKey"): "test_release_switch.py: the first launch "
    "with layout releases rolled back switches to no release, the bucket's own layout",
}
# Calls a test makes on purpose that the policies must refuse, and the test.
REFUSED_ON_PURPOSE = {
    ("preflight@environment", "s3:GetBucketVersioning", "arn:aws:s3:::acme-site-moved"): "test_launches.py: a "
    "pushed profile names a bucket the environment's role does not reach yet; the next launch is refused at preflight",
    ("api_handler@environment", "s3:GetBucketVersioning", "arn:aws:s3:::acme-site-moved"): "test_isolation.py: "
    "the same profile left pushed, read by the preflight report, before the stack's restore puts the profile back",
    # The same moved bucket, as the CORS check reads it.
    ("preflight@environment", "s3:GetBucketCORS", "arn:aws:s3:::acme-site-moved"): "test_launches.py, as above",
    ("api_handler@environment", "s3:GetBucketCORS", "arn:aws:s3:::acme-site-moved"): "test_isolation.py, as above",
    # And as the old versions' expiry check reads it.
    ("preflight@environment", "s3:GetLifecycleConfiguration", "arn:aws:s3:::acme-site-moved"): "test_launches.py",
    ("api_handler@environment", "s3:GetLifecycleConfiguration", "arn:aws:s3:::acme-site-moved"): "test_isolation.py",
    # And as the buckets' keys check reads it.
    ("preflight@environment", "s3:GetEncryptionConfiguration", "arn:aws:s3:::acme-site-moved"): "test_launches.py",
    ("api_handler@environment", "s3:GetEncryptionConfiguration", "arn:aws:s3:::acme-site-moved"): "test_isolation.py",
}
# The Lambda runtime writes the function's logs and its traces (X-Ray is on), not the function's code.
# What SNS does with the publisher's rights when a function publishes to the paging topic (encrypted with the
# controller's own key, so that alarms may publish to it): not a call the function makes, none is recorded.
ON_THE_PUBLISHERS_BEHALF = {"kms:Decrypt", "kms:GenerateDataKey"}
RUNTIME_ACTIONS = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def recorded(folder: Path) -> tuple[set[Call], dict[str, list[dict[str, Any]]]]:
    """The calls every worker's stack recorded, and the policies its functions' roles held (the same
    template on every worker: the first one's; a name CloudFormation makes differs between them, so calls
    are judged against their own worker's policies by `by_worker`)."""
    calls: set[Call] = set()
    policies: dict[str, list[dict[str, Any]]] = {}
    for worker_calls, worker_policies in by_worker(folder):
        calls |= worker_calls
        policies = policies or worker_policies
    return calls, policies


def by_worker(folder: Path) -> list[tuple[set[Call], dict[str, list[dict[str, Any]]]]]:
    """Each worker's stack's calls with the policies its own functions held."""
    found = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        found.append(({(function, action, resource) for function, action, resource in data["calls"]}, data["policies"]))
    return found


def is_write(action: str) -> bool:
    return not action.split(":", 1)[1].startswith(_READS)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _allows(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement grants `action` on `resource`. A resource of `*` (an action IAM cannot
    scope) is granted only on `*`. Conditions are not judged here."""
    if statement["Effect"] != "Allow" or not any(fnmatchcase(action, a) for a in _listed(statement["Action"])):
        return False
    patterns = _listed(statement["Resource"])
    return "*" in patterns or (resource != "*" and any(fnmatchcase(resource, p) for p in patterns))


def grants(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    return any(_allows(statement, action, resource) for document in documents for statement in document["Statement"])


def granted_actions(documents: list[dict[str, Any]]) -> set[str]:
    """The actions the policies allow (this project's policies name actions, never wildcards)."""
    return {
        action
        for document in documents
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for action in _listed(statement["Action"])
    }


def ungranted(calls: set[Call], policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Each call a function made that its policies do not grant."""
    return [
        f"{function}: {action} on {resource}"
        for function, action, resource in sorted(calls)
        if not grants(policies.get(function, []), action, resource)
        and (function, action, resource) not in REFUSED_ON_PURPOSE
    ]


def unexercised_writes(calls: set[Call], policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Each write a function's policies grant that the function never made."""
    made: dict[str, set[str]] = {}
    for function, action, _ in calls:
        made.setdefault(function, set()).add(action)
    return [
        f"{function}: {action} is granted and never made"
        for function, documents in sorted(policies.items())
        for action in sorted(
            granted_actions(documents) - made.get(function, set()) - RUNTIME_ACTIONS - ON_THE_PUBLISHERS_BEHALF
        )
        if is_write(action) and (function, action) not in EXERCISED_BY_UNIT_TESTS
    ]


def writes_on_everything(calls: set[Call], policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Each write a function's policies grant on `*` although IAM judges it on a resource: it should be
    granted on the resources the launches write."""
    scoped = {(function, action) for function, action, resource in calls if resource != "*"}
    return [
        f"{function}: {action} is granted on * but acts on named resources"
        for function, documents in sorted(policies.items())
        for statement in (s for document in documents for s in document["Statement"])
        if statement["Effect"] == "Allow" and "*" in _listed(statement["Resource"])
        for action in _listed(statement["Action"])
        if is_write(action) and (function, action) in scoped
    ]
