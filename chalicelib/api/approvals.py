"""Decisions at the approval gate: a role's sign-off or refusal under the policy, by link or by the API; the
last approval releases the execution, a rejection or an abort ends the gate."""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError

from chalicelib.api.answers import DecisionAnswer
from chalicelib.api.callers import authorise_person
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Approval, Caller, DecisionRequest, LaunchStatus, Stage, profile_of
from chalicelib.domain.progress import ApprovalsProgress
from chalicelib.domain.windows import approval_policy
from chalicelib.platform.profile_store import load_profile
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


# The same rule on the page, through the API and in the CLI.
REJECTION_NEEDS_A_COMMENT = "a rejection needs a comment saying why: the requester reads it"


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
    if decision == "reject" and not comment.strip():
        raise BadRequest("comment", REJECTION_NEEDS_A_COMMENT)
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
    policy = approval_policy(launch, profile_of(launch))
    if request is None:
        raise NotARequiredRole(f"{role!r} is not a required role; required: {', '.join(gate.roles)}")
    if request.state != "open":
        raise AlreadyDecided(f"the {role} request of launch {launch_id} is {request.state}")
    person = approver.strip().lower()
    if not policy.may_approve(role, person):
        raise NotAnApprover(f"{person} is not an approver for {role} in {launch.request.environment}")
    if person in launch.requesters or person == launch.requested_by.strip().lower():
        raise SeparationOfDuties(f"{person} requested this launch and cannot decide on it")
    unknown = sorted(set(attestations or []) - {a.id for a in policy.attestations})
    if unknown:
        named = ", ".join(a.id for a in policy.attestations) or "none"
        raise BadRequest("attestations", f"not an attestation here: {', '.join(unknown)}; the attestations are {named}")
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
