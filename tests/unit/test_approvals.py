"""The approval gate: requests, decisions, quorum, separation of duties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.approvals import NotARequiredRole, NotAwaitingApproval, SeparationOfDuties, decide, request_approvals
from chalicelib.models import DecisionRequest, Launch, LaunchStatus
from chalicelib.store import AlreadyDecided


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
def gate(aws: Any, store: Any, launch: Launch, profile: Any) -> str:
    """A launch waiting at the approval gate; returns the approvals topic ARN."""
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    preflighted = store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    request_approvals(store, preflighted, profile, "token+/=", aws("sns"), topic, "http://api.local")
    return topic


def _decide(
    store: Any, launch: Launch, sfn: Any, role: str, approver: str, decision: str = "approve"
) -> dict[str, Any]:
    return decide(store, launch.launch_id, DecisionRequest(role=role, approver=approver, decision=decision), sfn)


def test_requesting_keeps_the_token_server_side_and_notifies(store: Any, launch: Launch, gate: str) -> None:
    from moto.sns.models import sns_backends

    stored = store.approval_gate(launch.launch_id)
    assert stored["task_token"] == "token+/="
    [sent] = sns_backends["123456789012"]["us-east-1"].topics[gate].sent_notifications
    assert "token" not in sent[1]
    assert "1.1.0" in sent[1]
    assert store.get_launch(launch.launch_id).status == LaunchStatus.AWAITING_APPROVAL


def test_quorum_releases_the_execution_with_the_signoff(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    assert _decide(store, launch, sfn, "tech_lead", "t@x")["gate"] == "waiting"
    assert _decide(store, launch, sfn, "product_manager", "p@x")["gate"] == "waiting"
    assert sfn.calls == []
    assert _decide(store, launch, sfn, "qa_lead", "q@x")["gate"] == "approved"
    [(name, call)] = sfn.calls
    assert name == "success"
    assert call["taskToken"] == "token+/="
    assert {entry["role"] for entry in json.loads(call["output"])["signoff"]} == {
        "tech_lead",
        "product_manager",
        "qa_lead",
    }


def test_one_rejection_fails_the_gate(store: Any, launch: Launch, gate: str) -> None:
    sfn = FakeStepFunctions()
    _decide(store, launch, sfn, "tech_lead", "t@x")
    assert _decide(store, launch, sfn, "qa_lead", "q@x", "reject")["gate"] == "rejected"
    [(name, call)] = sfn.calls
    assert name == "failure"
    assert call["error"] == "ApprovalRejected"


def test_a_closed_task_counts_as_already_decided(store: Any, launch: Launch, gate: str) -> None:
    _decide(store, launch, FakeStepFunctions(closed=True), "tech_lead", "t@x", "reject")


def test_a_role_cannot_decide_twice(store: Any, launch: Launch, gate: str) -> None:
    _decide(store, launch, FakeStepFunctions(), "tech_lead", "t@x")
    with pytest.raises(AlreadyDecided):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", "other@x")


def test_one_person_fills_one_role(store: Any, launch: Launch, gate: str) -> None:
    _decide(store, launch, FakeStepFunctions(), "tech_lead", "t@x")
    with pytest.raises(SeparationOfDuties):
        _decide(store, launch, FakeStepFunctions(), "qa_lead", "t@x")


def test_the_requester_cannot_approve_their_own_launch(store: Any, launch: Launch, gate: str) -> None:
    with pytest.raises(SeparationOfDuties):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", launch.request.requested_by)


def test_an_unknown_role_is_refused(store: Any, launch: Launch, gate: str) -> None:
    with pytest.raises(NotARequiredRole):
        _decide(store, launch, FakeStepFunctions(), "ceo", "c@x")


def test_a_launch_not_at_the_gate_refuses_decisions(store: Any, launch: Launch) -> None:
    with pytest.raises(NotAwaitingApproval):
        _decide(store, launch, FakeStepFunctions(), "tech_lead", "t@x")
