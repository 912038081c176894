"""The approval gate: email each approver a signed link, record decisions, release the execution on quorum."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from chalicelib.answers import DecisionAnswer
from chalicelib.caller_text import for_email, for_email_subject
from chalicelib.links import sign, view_link
from chalicelib.models import Approval, ApprovalRequest, Caller, DecisionRequest, Launch, LaunchStatus, Stage
from chalicelib.profiles import EnvironmentProfile, load_profile, profile_of
from chalicelib.progress import ApprovalsProgress, CheckResult
from chalicelib.store import AlreadyDecided, LaunchStore, PersonAlreadyCounted

# Step Functions says TaskTimedOut for a closed task, moto says InvalidToken: both mean "decided already".
_CLOSED_TASK_ERRORS = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class NotAwaitingApproval(Exception):
    """The launch is not at the approval gate (not there yet, or past it)."""


class NotARequiredRole(ValueError):
    """The role named is not one this environment's policy asks for."""


class NotAnApprover(Exception):
    """The person is not on the policy's list for the role."""


class SeparationOfDuties(Exception):
    """The decision would let one person count twice, or approve their own launch."""


class RequestExpired(Exception):
    """The approval request is past its expiry; the launch will end EXPIRED."""


class MissingAttestations(ValueError):
    """An approval must confirm every attestation of the policy."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"confirm before approving: {', '.join(missing)}")
        self.missing = missing


def approval_link(api_url: str, key: bytes, request: ApprovalRequest, approver: str) -> str:
    token = sign(key, request.approval_id, approver, int(request.expires_at.timestamp()))
    return f"{api_url}/approve/{request.approval_id}?token={token}"


def _email(launch: Launch, request: ApprovalRequest, profile: EnvironmentProfile, link: str, page: str) -> str:
    asked = launch.request
    preflight = launch.results.preflight
    checks = preflight.checks if preflight else []
    passed = sum(1 for check in checks if check.result == "pass")
    # What did not pass is what an approver should weigh: each warning, failure and skip, with its evidence.
    attention = [
        f"  - {check.result}: {check.id} ({check.title}): {json.dumps(check.evidence, default=str)}"
        for check in checks
        if check.result != "pass"
    ]
    confirm = "\n".join(f"  - {attestation.text}" for attestation in profile.approvals.attestations)
    tests = _release_tests(checks)
    requester = for_email(launch.requested_by, 200)  # a session's name is the caller's to choose
    return "\n".join(
        [
            f"{requester} asks you to sign off, as {request.role}, the launch of {asked.version} "
            f"into {asked.environment}.",
            "",
            f"Launch:       {launch.launch_id}",
            f"Environment:  {asked.environment}",
            f"Version:      {asked.version} (commit {asked.git_sha})",
            f"Requested by: {requester}",
            f"Preflight:    {preflight.summary if preflight else f'{passed}/{len(checks)} checks passed'}",
            *(["The release's checks on its commit:", *tests] if tests else []),
            *(["Preflight items that did not pass:", *attention] if attention else []),
            f"Open until:   {request.expires_at.isoformat(timespec='minutes')}",
            f"Launch page:  {page}",
            "",
            "Approving confirms:",
            confirm,
            "",
            f"Review and decide: {link}",
            "",
            "This link is yours alone: it is signed for you and for this request. Opening it changes nothing;",
            "only the buttons on the page do.",
        ]
    )


def _release_tests(checks: list[CheckResult]) -> list[str]:
    """Each required GitHub check of the release's commit, its result and its link, for the approver to open."""
    found = next((check for check in checks if check.id == "app.release_tests" and check.result != "skipped"), None)
    if found is None:
        return []
    seen: dict[str, dict[str, str]] = found.evidence.get("checks", {})
    return [
        f"  - {name}: {check['result']}" + (f" ({check['url']})" if check.get("url") else "")
        for name, check in seen.items()
    ]


def request_approvals(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    task_token: str,
    sns: Any,
    topic_arn: str,
    api_url: str,
    key: bytes,
) -> ApprovalsProgress:
    """Store one request per role with the task token, email each approver their own link, open the gate.

    A retried step keeps the requests (and links) already made and emails only whom it has not.
    The status changes last, with the progress (see the stage table): a launch shows AWAITING_APPROVAL
    only once its approvers were asked."""
    policy = profile.approvals
    moment = store.clock.now()
    earlier = store.approval_requests(launch.launch_id)
    expires_at = earlier[0].expires_at if earlier else moment + timedelta(seconds=policy.timeout_seconds)
    wanted = [
        ApprovalRequest(
            approval_id=secrets.token_hex(16),
            launch_id=launch.launch_id,
            role=role,
            approvers=[email.lower() for email in policy.approvers[role]],
            requested_at=moment,
            expires_at=expires_at,
        )
        for role in policy.roles
    ]
    requests = store.open_approval_gate(launch.launch_id, task_token, wanted, expires_at, existing=earlier)
    for request in requests:
        for approver in request.approvers:
            if approver in request.emailed:
                continue
            link = approval_link(api_url, key, request, approver)
            try:
                message_id = sns.publish(
                    TopicArn=topic_arn,
                    Subject=for_email_subject(
                        f"[{launch.request.environment}] sign off {launch.request.version} as {request.role}?"
                    ),
                    Message=_email(launch, request, profile, link, view_link(key, api_url, launch.launch_id)),
                    # Each approver's subscription filters on this attribute: nobody receives another's link.
                    MessageAttributes={
                        "approver": {"DataType": "String", "StringValue": approver},
                        "launch_id": {"DataType": "String", "StringValue": launch.launch_id},
                        "role": {"DataType": "String", "StringValue": request.role},
                    },
                )["MessageId"]
            except Exception:
                # Counted for the controller's alarm (the step fails and is retried; each failure counts).
                from chalicelib import telemetry

                telemetry.controller(counts={"ApprovalEmailsFailed": 1})
                raise
            store.mark_emailed(launch.launch_id, request.role, approver)
            store.append_event(
                launch.launch_id,
                "approval_email",
                f"emailed {approver} the {request.role} link (message {message_id})",
                stage=Stage.APPROVALS,
            )
    store.append_event(
        launch.launch_id,
        "approval_requested",
        f"sign-off asked of {', '.join(policy.roles)}, open until {expires_at.isoformat(timespec='minutes')}",
        stage=Stage.APPROVALS,
    )
    return ApprovalsProgress(roles=list(policy.roles), expires_at=expires_at)


def decide(
    store: LaunchStore,
    launch_id: str,
    role: str,
    approver: str,
    decision: Literal["approve", "reject"],
    sfn: Any,
    comment: str = "",
    attestations: list[str] | None = None,
    via: Literal["link", "api"] = "api",
    caller: Caller | None = None,
) -> dict[str, Any]:
    """Record one role's decision under the policy; a rejection ends the gate, the last approval opens it.

    `approver` is a proven person: the holder of a signed link, or the API caller the people directory
    binds to them (`caller`, kept with the decision)."""
    launch = store.get_launch(launch_id)
    requests = {request.role: request for request in store.approval_requests(launch_id)}
    request = requests.get(role)
    # An expired request answers so whatever the launch did since (it ended EXPIRED).
    lapsed = request is not None and request.state == "open" and store.clock.now() >= request.expires_at
    if request is not None and (request.state == "expired" or lapsed):
        raise RequestExpired(f"the {role} request of launch {launch_id} expired at {request.expires_at}")
    gate = store.approval_gate(launch_id)
    if launch.status != LaunchStatus.AWAITING_APPROVAL or gate is None:
        raise NotAwaitingApproval(f"launch {launch_id} is {launch.status}, not awaiting approval")
    # Who must sign off, and who may, as when the launch started (who a caller is: the directory now).
    policy = profile_of(launch).approvals
    if request is None:
        raise NotARequiredRole(f"{role!r} is not a required role; required: {', '.join(gate.roles)}")
    if request.state != "open":
        raise AlreadyDecided(f"the {role} request of launch {launch_id} is {request.state}")
    person = approver.strip().lower()
    if not policy.may_approve(role, person):
        raise NotAnApprover(f"{person} is not an approver for {role} in {launch.request.environment}")
    if person in launch.requesters or person == launch.requested_by.strip().lower():
        raise SeparationOfDuties(f"{person} requested this launch and cannot decide on it")
    confirmed = [a.id for a in policy.attestations if a.id in set(attestations or [])]
    if decision == "approve":
        missing = [a.text for a in policy.attestations if a.id not in confirmed]
        if missing:
            raise MissingAttestations(missing)
    approval = Approval(
        role=role,
        decision="approved" if decision == "approve" else "rejected",
        approver=person,
        comment=comment,
        attestations=confirmed,
        via=via,
        caller=caller,
        decided_at=store.clock.now(),
    )
    try:
        store.record_decision(launch_id, approval, request.approval_id)
    except PersonAlreadyCounted as exc:
        raise SeparationOfDuties(f"{person} has already decided for another role of launch {launch_id}") from exc
    store.append_event(
        launch_id,
        "approval",
        f"{role} {approval.decision} by {person} via {via}" + (f": {comment}" if comment else ""),
        stage=Stage.APPROVALS,
        details={"attestations": confirmed, **({"caller": caller.model_dump(mode="json")} if caller else {})},
    )
    decided = {a.role: a for a in store.approvals(launch_id)}
    outcome: Literal["rejected", "approved", "waiting"]
    if approval.decision == "rejected":
        closed = store.close_open_requests(launch_id, "closed", f"{role} rejected the launch")
        if closed:
            store.append_event(
                launch_id, "approvals_closed", f"requests to {', '.join(closed)} closed", stage=Stage.APPROVALS
            )
        _close_gate(
            sfn.send_task_failure,
            taskToken=gate.task_token,
            error="ApprovalRejected",
            cause=f"{role} ({person}) rejected: {comment or 'no reason given'}"[:32768],
        )
        outcome = "rejected"
    elif all(decided.get(r) and decided[r].decision == "approved" for r in gate.roles):
        signoff = ApprovalsProgress(signoff=[decided[r].model_dump(mode="json") for r in gate.roles])
        store.record_result(launch_id, Stage.APPROVALS, signoff)
        store.append_event(
            launch_id,
            "signed_off",
            "signed off: " + ", ".join(f"{r} by {decided[r].approver}" for r in gate.roles),
            stage=Stage.APPROVALS,
            details=signoff.model_dump(mode="json", exclude_unset=True),
        )
        _close_gate(
            sfn.send_task_success, taskToken=gate.task_token, output=signoff.model_dump_json(exclude_unset=True)
        )
        outcome = "approved"
    else:
        outcome = "waiting"
    return DecisionAnswer(
        launch_id=launch_id,
        role=role,
        decision=approval.decision,
        decided_by=person,
        caller=caller,
        gate=outcome,
        approvals={r: (decided[r].decision if r in decided else "pending") for r in gate.roles},
    ).body()


def decide_as_caller(
    store: LaunchStore, launch_id: str, decision: DecisionRequest, caller: Caller, sfn: Any
) -> dict[str, Any]:
    """A decision through the API: only a person the environment's people directory proves may decide."""
    from chalicelib.callers import authorise_person

    launch = store.get_launch(launch_id)
    person = authorise_person(caller, load_profile(launch.request.environment, fresh=True), "deciding on a launch")
    assert person.person is not None
    return decide(
        store,
        launch_id,
        decision.role,
        person.person,
        decision.decision,
        sfn,
        comment=decision.comment,
        attestations=decision.attestations,
        via="api",
        caller=person,
    )


def expire_requests(store: LaunchStore, launch_id: str) -> None:
    """The gate timed out: close what is still open as expired, for the record."""
    expired = store.close_open_requests(launch_id, "expired", "nobody decided before the request expired")
    if expired:
        store.append_event(
            launch_id, "approvals_expired", f"requests to {', '.join(expired)} expired", stage=Stage.APPROVALS
        )


def abort_at_gate(store: LaunchStore, launch_id: str, cause: str, sfn: Any) -> None:
    """Release an execution waiting for sign-off with LaunchAborted; the open requests are closed."""
    gate = store.approval_gate(launch_id)
    closed = store.close_open_requests(launch_id, "closed", cause)
    if closed:
        store.append_event(
            launch_id, "approvals_closed", f"requests to {', '.join(closed)} closed", stage=Stage.APPROVALS
        )
    if gate is not None:
        _close_gate(sfn.send_task_failure, taskToken=gate.task_token, error="LaunchAborted", cause=cause[:32768])


def _close_gate(send: Any, **kwargs: Any) -> None:
    try:
        send(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _CLOSED_TASK_ERRORS:
            raise
