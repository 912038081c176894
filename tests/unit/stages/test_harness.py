"""The stage harness: the clients a stage may reach, and what is kept when its launch ends while it works."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.stages.table import STAGES
from tests.conftest import move_to


def test_preflight_runs_on_the_clients_its_row_declares_and_keeps_its_report(
    environment: Any, store: Any, launch: Launch, run_stage: Any
) -> None:
    from chalicelib.domain.errors import PreflightBlocked

    # A check reaching for a client its row does not declare would fail the stage with UndeclaredClient;
    # here the checks all ran, and block on what this bare account lacks (the notification topic).
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT, stage=Stage.PREFLIGHT)
    with pytest.raises(PreflightBlocked, match=r"monitoring\.notifications_subscribed"):
        run_stage("preflight", launch.launch_id)
    kept = store.get_launch(launch.launch_id).results.preflight
    assert kept is not None
    assert kept.passed is False
    assert {check.id for check in kept.checks if check.result == "pass"} >= {"s3.site_versioning", "rds.multi_az"}


def test_a_stage_reaching_for_a_client_it_did_not_declare_is_refused() -> None:
    from chalicelib.stages.harness import StageCall, UndeclaredClient

    fields: dict[str, Any] = {"store": None, "launch": None, "profile": None, "event": None, "settings": None}
    call = StageCall(**fields, declared=("s3",), make_client=lambda service: object())
    with pytest.raises(UndeclaredClient, match="rds"):
        call.client("rds")


def test_a_step_whose_launch_ended_while_it_worked_keeps_what_it_did_but_not_its_status(
    store: Any, launch: Launch, aws: Any
) -> None:
    import dataclasses
    from datetime import UTC, datetime

    from chalicelib.domain.progress import ApprovalsProgress
    from chalicelib.platform.settings import settings
    from chalicelib.stages.harness import Dependencies, StageCall, handle
    from chalicelib.store import StatusConflict

    move_to(store, launch.launch_id, LaunchStatus.PREFLIGHT)

    def gate_timed_out_meanwhile(call: StageCall) -> ApprovalsProgress:
        call.store.append_event(launch.launch_id, "approval_requested", "sign-off asked of qa_lead", Stage.APPROVALS)
        store.set_status(launch.launch_id, LaunchStatus.EXPIRED)  # the execution's timeout, ending the launch
        return ApprovalsProgress(roles=["qa_lead"], expires_at=datetime.now(UTC))

    spec = dataclasses.replace(STAGES["request_approvals"], run=gate_timed_out_meanwhile)
    needs = Dependencies(store=lambda: store, client=aws, environment=lambda *_: aws, settings=settings)
    with pytest.raises(StatusConflict):
        handle(spec, {"launch_id": launch.launch_id, "task_token": "token"}, needs)
    stored = store.get_launch(launch.launch_id)
    assert stored.status == LaunchStatus.EXPIRED
    assert stored.results.approvals is not None
    assert "approval_requested" in [event.kind for event in store.timeline(launch.launch_id)]
    assert not any("-> AWAITING_APPROVAL" in event.message for event in store.timeline(launch.launch_id))
