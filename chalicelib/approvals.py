"""The approval gate: ask the sign-off roles, record their decisions, release the execution on quorum."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.models import Approval, DecisionRequest, Launch, LaunchStatus, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore, new_event, now

# Step Functions says TaskTimedOut for a closed task, moto says InvalidToken: both mean "decided already".
_CLOSED_TASK_ERRORS = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class NotAwaitingApproval(Exception):
    """The launch is not at the approval gate (not there yet, or past it)."""


class NotARequiredRole(ValueError):
    """The role named is not one this environment's policy asks for."""


class SeparationOfDuties(Exception):
    """The decision would let one person count twice, or approve their own launch."""


def request_approvals(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    task_token: str,
    sns: Any,
    topic_arn: str,
    api_url: str,
) -> dict[str, Any]:
    """Keep the task token server-side, ask every required role for a decision, then open the gate.

    The status changes last: a launch shows AWAITING_APPROVAL only once its approvers were asked."""
    roles = list(profile.approvals.roles)
    expires_at = now() + timedelta(seconds=profile.approvals.timeout_seconds)
    store.open_approval_gate(launch.launch_id, task_token, roles, expires_at)
    request = launch.request
    preflight = launch.results.get(str(Stage.PREFLIGHT), {})
    checks = preflight.get("checks", [])
    passed = sum(1 for check in checks if check.get("result") == "pass")
    decision_url = (
        f"{api_url}/launches/{launch.launch_id}/approvals" if api_url else f"/launches/{launch.launch_id}/approvals"
    )
    body = "\n".join(
        [
            f"Launch {launch.launch_id} asks for your sign-off.",
            "",
            f"Environment: {request.environment}",
            f"Version:     {request.version} (commit {request.git_sha})",
            f"Requested by: {request.requested_by}",
            f"Preflight:   {passed}/{len(checks)} checks passed",
            f"Roles asked: {', '.join(roles)}",
            f"Open until:  {expires_at.isoformat(timespec='minutes')}",
            "",
            f"Decide: POST {decision_url}",
        ]
    )
    if topic_arn:
        sns.publish(
            TopicArn=topic_arn,
            Subject=f"[{request.environment}] approve launch of {request.version}?"[:100],
            Message=body,
            MessageAttributes={"launch_id": {"DataType": "String", "StringValue": launch.launch_id}},
        )
    store.set_status(
        launch.launch_id,
        LaunchStatus.AWAITING_APPROVAL,
        stage=Stage.APPROVALS,
        current=launch,
        also=[
            new_event(
                "approval_requested",
                f"sign-off asked of {', '.join(roles)}, open until {expires_at.isoformat(timespec='minutes')}",
                Stage.APPROVALS,
            )
        ],
    )
    return {"roles": roles, "expires_at": expires_at.isoformat()}


def decide(store: LaunchStore, launch_id: str, decision: DecisionRequest, sfn: Any) -> dict[str, Any]:
    """Record one role's decision; a rejection ends the gate, the last approval opens it."""
    launch = store.get_launch(launch_id)
    gate = store.approval_gate(launch_id)
    if launch.status != LaunchStatus.AWAITING_APPROVAL or gate is None:
        raise NotAwaitingApproval(f"launch {launch_id} is {launch.status}, not awaiting approval")
    if now() > gate["expires_at"]:
        raise NotAwaitingApproval(f"the approval request of launch {launch_id} expired at {gate['expires_at']}")
    if decision.role not in gate["roles"]:
        raise NotARequiredRole(f"{decision.role!r} is not a required role; required: {', '.join(gate['roles'])}")
    if decision.approver == launch.request.requested_by:
        raise SeparationOfDuties(f"{decision.approver} requested this launch and cannot decide on it")
    given = store.approvals(launch_id)
    if any(a.approver == decision.approver and a.role != decision.role for a in given):
        raise SeparationOfDuties(f"{decision.approver} has already decided for another role")
    approval = Approval(
        role=decision.role,
        decision="approved" if decision.decision == "approve" else "rejected",
        approver=decision.approver,
        comment=decision.comment,
        decided_at=now(),
    )
    store.record_decision(launch_id, approval)
    store.append_event(
        launch_id,
        "approval",
        f"{approval.role} {approval.decision} by {approval.approver}"
        + (f": {approval.comment}" if approval.comment else ""),
        stage=Stage.APPROVALS,
    )
    given = [*given, approval]
    decided = {a.role: a for a in given}
    if approval.decision == "rejected":
        _close_gate(
            sfn.send_task_failure,
            taskToken=gate["task_token"],
            error="ApprovalRejected",
            cause=f"{approval.role} ({approval.approver}) rejected: {approval.comment or 'no reason given'}"[:32768],
        )
        outcome = "rejected"
    elif all(decided.get(role) and decided[role].decision == "approved" for role in gate["roles"]):
        signoff = {"signoff": [a.model_dump(mode="json") for a in given]}
        store.record_result(launch_id, Stage.APPROVALS, signoff)
        store.append_event(launch_id, "signed_off", "every required role approved", stage=Stage.APPROVALS)
        _close_gate(sfn.send_task_success, taskToken=gate["task_token"], output=json.dumps(signoff))
        outcome = "approved"
    else:
        outcome = "waiting"
    return {
        "launch_id": launch_id,
        "gate": outcome,
        "approvals": {role: (decided[role].decision if role in decided else "pending") for role in gate["roles"]},
    }


def _close_gate(send: Any, **kwargs: Any) -> None:
    try:
        send(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _CLOSED_TASK_ERRORS:
            raise
