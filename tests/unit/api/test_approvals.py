"""The approval gate: requests and emails, quorum, separation of duties, attestations, concurrent clicks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.api import approvals
from chalicelib.api.approvals import (
    REJECTION_NEEDS_A_COMMENT,
    MissingAttestations,
    NotAnApprover,
    NotARequiredRole,
    NotAwaitingApproval,
    RequestExpired,
    SeparationOfDuties,
    decide,
)
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform.links import verify
from chalicelib.stages import approval_gate
from chalicelib.stages.approval_gate import request_approvals
from chalicelib.store import AlreadyDecided
from tests.conftest import race

KEY = b"k" * 32
ALL = ["code_freeze", "rollback_plan", "on_call", "runbooks"]
REQUESTER = "riley.release@acme.example"
# sam may approve for two roles (one person still fills only one); riley asked for the launch.
APPROVERS = {
    "tech_lead": ["tess.lead@acme.example", REQUESTER, "sam@acme.example"],
    "product_manager": ["pat.pm@acme.example", "sam@acme.example"],
    "qa_lead": ["quinn.qa@acme.example", "quentin.qa@acme.example"],
}


class FakeStepFunctions:
    """Records task-token calls; can answer as Step Functions does for a task already closed."""

    def __init__(self, closed: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed = closed

    def _call(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if self.closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"}}, name)
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("success", kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("failure", kwargs)


@pytest.fixture
def policy(profile: EnvironmentProfile, monkeypatch: pytest.MonkeyPatch) -> EnvironmentProfile:
    """The local profile with the approvers above, as every approval function loads it."""
    patched = profile.model_copy(update={"approvals": profile.approvals.model_copy(update={"approvers": APPROVERS})})
    monkeypatch.setattr(approvals, "load_profile", lambda environment, **_: patched)
    monkeypatch.setattr(approvals, "profile_of", lambda launch: patched)
    return patched


@pytest.fixture
def gate(aws: Any, store: Any, launch: Launch, policy: EnvironmentProfile) -> str:
    """A launch waiting at the approval gate; returns the approvals topic ARN."""
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    preflighted = store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    request_approvals(store, preflighted, policy, "token+/=", aws("sns"), topic, "https://api.example", KEY)
    store.set_status(launch.launch_id, LaunchStatus.AWAITING_APPROVAL, stage=Stage.APPROVALS)  # the stage's exit
    return topic


def _sent(topic: str) -> list[tuple[Any, ...]]:
    from moto.sns.models import sns_backends

    return sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications


def _decide(
    store: Any, launch: Launch, sfn: Any, role: str, approver: str, decision: str = "approve", **kwargs: Any
) -> dict[str, Any]:
    kwargs.setdefault("attestations", ALL if decision == "approve" else [])
    return decide(store, launch.launch_id, role, approver, decision, sfn, **kwargs)  # type: ignore[arg-type]


def test_each_approver_gets_their_own_email_with_a_link_signed_for_them(store: Any, launch: Launch, gate: str) -> None:
    assert store.approval_gate(launch.launch_id).task_token == "token+/="
    sent = _sent(gate)
    assert sorted(message[3]["approver"]["Value"] for message in sent) == sorted(
        email for emails in APPROVERS.values() for email in emails
    )
    requests = {request.role: request for request in store.approval_requests(launch.launch_id)}
    for _, body, _, attributes, _ in sent:
        assert "token+/=" not in body
        link = next(line for line in body.splitlines() if "/approve/" in line).split(": ", 1)[1]
        request = requests[attributes["role"]["Value"]]
        assert link.startswith(f"https://api.example/approve/{request.approval_id}?token=")
        holder = verify(KEY, request.approval_id, link.split("token=", 1)[1])
        assert holder.approver == attributes["approver"]["Value"]
        assert "1.1.0" in body
        assert "Code freeze confirmed" in body
    assert {request.state for request in requests.values()} == {"open"}
    assert store.get_launch(launch.launch_id).status == LaunchStatus.AWAITING_APPROVAL
    emails = [event for event in store.timeline(launch.launch_id) if event.kind == "approval_email"]
    assert len(emails) == len(sent)


def test_a_retried_request_keeps_the_links_and_emails_nobody_twice(
    aws: Any, store: Any, launch: Launch, gate: str, policy: EnvironmentProfile
) -> None:
    before = {request.role: request.approval_id for request in store.approval_requests(launch.launch_id)}
    count = len(_sent(gate))
    request_approvals(
        store, store.get_launch(launch.launch_id), policy, "token-2", aws("sns"), gate, "https://api.example", KEY
    )
    assert {request.role: request.approval_id for request in store.approval_requests(launch.launch_id)} == before
    assert len(_sent(gate)) == count
    assert store.approval_gate(launch.launch_id).task_token == "token-2"


def test_quorum_releases_the_execution_with_the_signoff_record(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    assert _decide(store, launch, sfn, "tech_lead", "tess.lead@acme.example")["gate"] == "waiting"
    assert _decide(store, launch, sfn, "product_manager", "pat.pm@acme.example")["gate"] == "waiting"
    assert sfn.calls == []
    assert _decide(store, launch, sfn, "qa_lead", "Quentin.QA@acme.example")["gate"] == "approved"
    [(name, call)] = sfn.calls
    assert name == "success"
    assert call["taskToken"] == "token+/="
    signoff = json.loads(call["output"])["signoff"]
    assert [(line["role"], line["approver"]) for line in signoff] == [
        ("tech_lead", "tess.lead@acme.example"),
        ("product_manager", "pat.pm@acme.example"),
        ("qa_lead", "quentin.qa@acme.example"),
    ]
    assert all(line["attestations"] == ALL and line["decided_at"] for line in signoff)
    assert store.get_launch(launch.launch_id).results.approvals.signoff == signoff
    assert {request.state for request in store.approval_requests(launch.launch_id)} == {"approved"}


def test_one_rejection_fails_the_gate_and_closes_the_other_requests(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    _decide(store, launch, sfn, "tech_lead", "tess.lead@acme.example")
    result = _decide(store, launch, sfn, "qa_lead", "quinn.qa@acme.example", "reject", comment="checkout broke")
    assert result["gate"] == "rejected"
    [(name, call)] = sfn.calls
    assert (name, call["error"]) == ("failure", "ApprovalRejected")
    assert "checkout broke" in call["cause"]
    states = {request.role: request.state for request in store.approval_requests(launch.launch_id)}
    assert states == {"tech_lead": "approved", "qa_lead": "rejected", "product_manager": "closed"}


def test_a_closed_task_counts_as_already_decided(store: Any, launch: Launch, gate: str) -> None:
    _decide(
        store, launch, FakeStepFunctions(closed=True), "tech_lead", "tess.lead@acme.example", "reject", comment="no"
    )


def test_a_role_cannot_decide_twice(store: Any, launch: Launch, gate: str) -> None:
    _decide(store, launch, FakeStepFunctions(), "qa_lead", "quinn.qa@acme.example")
    with pytest.raises(AlreadyDecided):
        _decide(store, launch, FakeStepFunctions(), "qa_lead", "quentin.qa@acme.example")


def test_one_person_fills_one_role(store: Any, launch: Launch, gate: str) -> None:
    _decide(store, launch, FakeStepFunctions(), "tech_lead", "sam@acme.example")
    with pytest.raises(SeparationOfDuties):
        _decide(store, launch, FakeStepFunctions(), "product_manager", "sam@acme.example")


def test_the_requester_cannot_approve_their_own_launch(store: Any, launch: Launch, gate: str) -> None:
    assert launch.requested_by == REQUESTER
    with pytest.raises(SeparationOfDuties):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", REQUESTER)


def test_only_the_policys_approvers_may_decide_for_a_role(store: Any, launch: Launch, gate: str) -> None:
    with pytest.raises(NotAnApprover):
        _decide(store, launch, FakeStepFunctions(), "qa_lead", "pat.pm@acme.example")


def test_an_unknown_role_is_refused(store: Any, launch: Launch, gate: str) -> None:
    with pytest.raises(NotARequiredRole):
        _decide(store, launch, FakeStepFunctions(), "ceo", "c@acme.example")


def test_a_launch_not_at_the_gate_refuses_decisions(store: Any, launch: Launch, policy: EnvironmentProfile) -> None:
    with pytest.raises(NotAwaitingApproval):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", "tess.lead@acme.example")


def test_approving_needs_every_attestation_and_rejecting_none(store: Any, launch: Launch, gate: str) -> None:
    with pytest.raises(MissingAttestations, match="Runbooks complete"):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", "tess.lead@acme.example", attestations=ALL[:3])
    assert store.approvals(launch.launch_id) == []
    _decide(
        store,
        launch,
        FakeStepFunctions(),
        "tech_lead",
        "tess.lead@acme.example",
        "reject",
        comment="no",
        attestations=[],
    )


def test_an_expired_request_takes_no_decision(store: Any, clock: Any, launch: Launch, gate: str) -> None:
    clock.advance(601)
    with pytest.raises(RequestExpired):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", "tess.lead@acme.example")
    approval_gate.expire_requests(store, launch.launch_id)
    assert {request.state for request in store.approval_requests(launch.launch_id)} == {"expired"}


def test_two_approvers_clicking_for_one_role_at_once_count_once(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    outcomes = race(
        [
            lambda: _decide(store, launch, sfn, "qa_lead", "quinn.qa@acme.example"),
            lambda: _decide(store, launch, sfn, "qa_lead", "quentin.qa@acme.example", "reject", comment="no"),
        ]
    )
    assert sum(isinstance(outcome, dict) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, AlreadyDecided) for outcome in outcomes) == 1, outcomes
    assert len(store.approvals(launch.launch_id)) == 1


def test_one_person_clicking_for_two_roles_at_once_counts_once(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    outcomes = race(
        [
            lambda: _decide(store, launch, sfn, "tech_lead", "sam@acme.example"),
            lambda: _decide(store, launch, sfn, "product_manager", "sam@acme.example"),
        ]
    )
    assert sum(isinstance(outcome, dict) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, SeparationOfDuties) for outcome in outcomes) == 1, outcomes
    assert [a.approver for a in store.approvals(launch.launch_id)] == ["sam@acme.example"]


def test_the_email_carries_the_preflight_report_and_what_did_not_pass(
    aws: Any, store: Any, launch: Launch, policy: EnvironmentProfile
) -> None:
    from chalicelib.domain.progress import PreflightProgress

    def check(id: str, title: str, result: str, evidence: dict[str, str]) -> dict[str, Any]:
        return {"id": id, "title": title, "section": "Infrastructure", "result": result, "resource": "r"} | {
            "evidence": evidence
        }

    report = PreflightProgress(
        summary="29/31 checks passed, 0 blocking, 1 warnings, 1 skipped",
        passed=True,
        checks=[
            check("s3.site_versioning", "Site bucket versioning", "pass", {}),
            check("monitoring.dashboard", "Dashboard exists", "warn", {"unreadable": "ResourceNotFound"}),
            check("elb.access_logs", "Access logs", "skipped", {"reason": "no ALB"}),
        ],
    )
    store.record_result(launch.launch_id, Stage.PREFLIGHT, report)
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    preflighted = store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    request_approvals(store, preflighted, policy, "token", aws("sns"), topic, "https://api.example", KEY)
    body = _sent(topic)[0][1]
    assert "Preflight:    29/31 checks passed, 0 blocking, 1 warnings, 1 skipped" in body
    assert "  - warn: monitoring.dashboard (Dashboard exists): unreadable: ResourceNotFound" in body
    assert "  - skipped: elb.access_logs (Access logs): reason: no ALB" in body
    assert "s3.site_versioning" not in body


def test_a_rejection_without_a_comment_is_refused_by_the_api_as_the_page_refuses_it(
    store: Any, launch: Launch, gate: str
) -> None:
    from chalicelib.domain.errors import BadRequest

    for blank in ("", "   "):
        with pytest.raises(BadRequest) as refused:
            _decide(store, launch, FakeStepFunctions(), "qa_lead", "quinn.qa@acme.example", "reject", comment=blank)
        assert (refused.value.field, refused.value.reason) == ("comment", REJECTION_NEEDS_A_COMMENT)
    assert store.approvals(launch.launch_id) == []


def test_an_attestation_the_profile_does_not_ask_for_is_named_not_ignored(
    store: Any, launch: Launch, gate: str
) -> None:
    from chalicelib.domain.errors import BadRequest

    with pytest.raises(BadRequest) as refused:
        _decide(store, launch, FakeStepFunctions(), "qa_lead", "quinn.qa@acme.example", attestations=[*ALL, "oncall"])
    assert refused.value.field == "attestations"
    assert refused.value.reason.startswith("not an attestation here: oncall; the attestations are code_freeze")
    assert store.approvals(launch.launch_id) == []


def test_an_emergency_launch_outside_the_windows_needs_the_emergency_role_to_sign_off_as_well(
    aws: Any, store: Any, launch: Launch, policy: EnvironmentProfile
) -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.models import EmergencyLaunch

    emergency = EmergencyLaunch(
        reason="payments fail for every EU customer",
        outside="freeze 2026-12-21 to 2027-01-03: year-end freeze",
        signoff_role="incident_commander",
        approvers=["ivy.ic@acme.example"],
        declared_at=datetime.now(UTC),
    )
    store.record_emergency(launch.launch_id, emergency)
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    preflighted = store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    assert preflighted.emergency == emergency
    request_approvals(store, preflighted, policy, "token", aws("sns"), topic, "https://api.example", KEY)
    store.set_status(launch.launch_id, LaunchStatus.AWAITING_APPROVAL, stage=Stage.APPROVALS)
    asked = {message[3]["approver"]["Value"]: message for message in _sent(topic)}
    _, body, subject, attributes, _ = asked["ivy.ic@acme.example"]
    assert attributes["role"]["Value"] == "incident_commander"
    assert subject.startswith("[local] EMERGENCY: sign off 1.1.0")
    assert body.startswith("EMERGENCY: outside the deploy windows (freeze 2026-12-21 to 2027-01-03")
    sfn = FakeStepFunctions()
    assert _decide(store, launch, sfn, "tech_lead", "tess.lead@acme.example")["gate"] == "waiting"
    assert _decide(store, launch, sfn, "product_manager", "pat.pm@acme.example")["gate"] == "waiting"
    assert _decide(store, launch, sfn, "qa_lead", "Quentin.QA@acme.example")["gate"] == "waiting"
    assert sfn.calls == []
    with pytest.raises(approvals.NotAnApprover):
        _decide(store, launch, sfn, "incident_commander", "tomas.lead@acme.example")
    assert _decide(store, launch, sfn, "incident_commander", "ivy.ic@acme.example")["gate"] == "approved"
    assert [name for name, _ in sfn.calls] == ["success"]
