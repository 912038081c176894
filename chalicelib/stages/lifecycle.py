"""Start and end of a launch: the environment lock, the final status, the notification."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from chalicelib.domain.models import FinishEvent, Launch, LaunchStatus, Stage, TimelineEvent, profile_of
from chalicelib.domain.next_steps import next_steps
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import (
    Exposure,
    FinishProgress,
    Progress,
    StartProgress,
    TrafficStep,
    exposure_of,
    traffic_steps_of,
)
from chalicelib.platform import chat, lark, telemetry
from chalicelib.platform.chat import ChatNotification
from chalicelib.platform.links import launch_page_link
from chalicelib.stages.approval_gate import expire_requests
from chalicelib.stages.bake import delete_launch_alarms
from chalicelib.stages.evidence import seal_launch
from chalicelib.stages.exposure import measure_exposure
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.store import LaunchStore

Outcome = Literal["succeeded", "rolled_back", "rollback_failed", "unchanged"]

# Errors that end a launch before it changed anything, by the class name the state machine caught.
_UNCHANGED_STATUS = {
    "PreflightBlocked": LaunchStatus.BLOCKED,
    "ApprovalRejected": LaunchStatus.REJECTED,
    "States.Timeout": LaunchStatus.EXPIRED,
    "LaunchAborted": LaunchStatus.ABORTED,
}


def begin_launch(store: LaunchStore, launch: Launch, profile: EnvironmentProfile) -> StartProgress:
    """Hold the environment for this launch and hand the state machine its deadlines."""
    store.acquire_lock(launch.request.environment, launch.launch_id, profile.lock_lease_seconds)
    migration = profile.backend.migration
    return StartProgress(
        approval_timeout_seconds=profile.approvals.timeout_seconds,
        snapshot_deadline_seconds=profile.database.snapshot_deadline_seconds,
        migration_deadline_seconds=migration.deadline_seconds if migration else profile.backend.deadline_seconds,
        rollout_deadline_seconds=profile.backend.deadline_seconds,
        functional_deadline_seconds=profile.functional.deadline_seconds if profile.functional else 0,
    )


def after_begin(launch: Launch) -> tuple[LaunchStatus, Stage]:
    """A launch goes on to its checks; a requested rollback has no checks or sign-off before undoing."""
    if launch.rollback_of:
        return LaunchStatus.ROLLING_BACK, Stage.ROLLBACK
    return LaunchStatus.PREFLIGHT, Stage.PREFLIGHT


def final_status(outcome: Outcome, error_name: str | None, changed: bool = True) -> LaunchStatus:
    if outcome == "succeeded":
        return LaunchStatus.SUCCEEDED
    if outcome == "rolled_back":
        # An abort honoured by the first changing stage went through rollback with nothing to undo.
        return LaunchStatus.ABORTED if error_name == "LaunchAborted" and not changed else LaunchStatus.ROLLED_BACK
    if outcome == "rollback_failed":
        return LaunchStatus.ROLLBACK_FAILED
    return _UNCHANGED_STATUS.get(error_name or "", LaunchStatus.FAILED)


def finish_launch(
    store: LaunchStore,
    launch: Launch,
    outcome: Outcome,
    error: dict[str, str] | None,
    sns: Any,
    topic_arn: str,
    cloudwatch: Callable[[], Any] | None = None,
    paging_topic_arn: str = "",
    page: str = "",
    lark: Callable[[ChatNotification], None] | None = None,
    kms: Callable[[], Any] | None = None,
    evidence_key: str = "",
) -> FinishProgress:
    """Write the final status, release the environment (or hold it after a failed rollback), seal the timeline
    with the evidence key, tell the team.

    A retried step after the status was written still releases or holds the lock and notifies, once
    (the progress it returns marks the launch notified)."""
    error_name = (error or {}).get("Error")
    launch_id = launch.launch_id
    alarms: dict[str, Any] = {}
    if launch.results.bake is not None and cloudwatch is not None:
        alarms = _delete_launch_alarms(launch, cloudwatch)
    status = final_status(outcome, error_name, changed=bool(launch.changes))
    if launch.results.finish is not None:
        return launch.results.finish  # a retried step: finished and notified
    cause = _cause(error) or _rejection(store, launch_id, error_name) or _last_failure(store, launch_id, error)
    if error_name == "RollbackRequested" and launch.rollback_of:
        asked = launch.rollback_of
        cause = f"{asked['requested_by']} asked to roll back launch {asked['launch_id']}: {asked['reason']}"
    if not cause and error_name == "LaunchAborted" and launch.abort:
        cause = f"aborted by {launch.abort['aborted_by']}: {launch.abort['reason']}"  # SendTaskFailure may drop it
    final = launch.status if launch.status.is_final else status
    timeline = store.timeline(launch_id)
    exposure = _exposure(store, launch, timeline, cloudwatch)
    if final == LaunchStatus.EXPIRED:
        expire_requests(store, launch_id)
    environment = launch.request.environment
    manual_steps = next_steps(launch, final, cause)
    # The lock comes before the final status, so whoever sees the status finds the lock as it will stay.
    if final == LaunchStatus.ROLLBACK_FAILED:
        # Nobody may launch on top of a half-rolled-back system until a person says it is sound.
        lock_note = {"lock_held": store.hold_lock(environment, launch_id, f"rollback of launch {launch_id} failed")}
        summary = f"launch {final}: {error_name}: {cause}; {environment} stays locked until `launchctl unlock`"
    else:
        lock_note = {"lock_released": store.release_lock(environment, launch_id)}
        summary = f"launch {final}" + (f": {error_name}: {cause}" if error else "")
    if not launch.status.is_final:
        if outcome in {"rolled_back", "rollback_failed"} and launch.status != LaunchStatus.ROLLING_BACK:
            launch = store.set_status(launch_id, LaunchStatus.ROLLING_BACK, stage=Stage.ROLLBACK, current=launch)
        launch = store.set_status(
            launch_id,
            final,
            stage=Stage.FINISH,
            error={"error": error_name or "", "cause": cause} if error else None,
            current=launch,
            also=[
                store.event(
                    "finished",
                    summary + (f"; {alarms['left']}" if "left" in alarms else ""),
                    Stage.FINISH,
                    {
                        **lock_note,
                        "manual_steps": manual_steps,
                        **alarms,
                        **({"exposure": exposure.model_dump(mode="json")} if exposure else {}),
                    },
                )
            ],
        )
        # Once: a retried finish finds the final status written and emits nothing again.
        telemetry.launch_ended(launch, str(final), store.timeline(launch_id), store.clock.now(), exposure)
    seal_launch(store, launch_id, kms, evidence_key)
    if topic_arn:
        notify_end(
            sns,
            topic_arn,
            launch,
            final,
            error_name,
            cause,
            manual_steps,
            paging_topic_arn=paging_topic_arn,
            page=page,
            lark=lark,
            steps=traffic_steps_of(timeline),
            exposure=exposure,
        )
    return FinishProgress(status=str(final), notified=bool(topic_arn), exposure=exposure, **lock_note)


def _exposure(
    store: LaunchStore, launch: Launch, timeline: list[TimelineEvent], cloudwatch: Callable[[], Any] | None
) -> Exposure | None:
    """What the release's revision served, read once: a retried finish after the final status finds it on the
    finished event (the minutes since would count the next launch's traffic)."""
    if launch.status.is_final:
        return exposure_of(timeline)
    if cloudwatch is None or launch.profile is None:
        return None
    try:
        return measure_exposure(launch, profile_of(launch), timeline, cloudwatch(), store.clock.now())
    except Exception as exc:  # noqa: BLE001 - the end is written whatever the figures say
        return Exposure(how=f"the load balancer's figures could not be read ({type(exc).__name__}: {exc})")


def _delete_launch_alarms(launch: Launch, cloudwatch: Callable[[], Any]) -> dict[str, Any]:
    """The alarms the launch made for its bake go with it, on every path: what was deleted, or what is left
    for a person (the launch still ends: a finish stuck on an alarm would hold the environment's lock)."""
    try:
        return {"launch_alarms_deleted": delete_launch_alarms(profile_of(launch), launch, cloudwatch())}
    except Exception as exc:  # noqa: BLE001 - a retried step tries again; the end is written regardless
        return {"left": f"the launch's alarms could not be deleted ({type(exc).__name__}: {exc}): delete them by hand"}


def notify_end(
    sns: Any,
    topic_arn: str,
    launch: Launch,
    status: LaunchStatus,
    error_name: str | None,
    cause: str,
    manual_steps: list[str],
    urgent: bool | None = None,
    paging_topic_arn: str = "",
    page: str = "",
    lark: Callable[[ChatNotification], None] | None = None,
    steps: list[TrafficStep] | None = None,
    exposure: Exposure | None = None,
) -> None:
    """The launch's end, to the team's channel (the notifications topic, and `lark`'s group); `urgent` (a
    failed rollback, an execution that ended without its finish) also pages, through the topic the
    controller's alarms page on."""
    urgent = status == LaunchStatus.ROLLBACK_FAILED if urgent is None else urgent
    note = chat.ended(launch, str(status), error_name, cause, manual_steps, urgent, page, steps, exposure)
    chat.publish(sns, topic_arn, note)
    if lark is not None:
        lark(note)
    if urgent and paging_topic_arn:
        chat.publish(sns, paging_topic_arn, note)


def _rejection(store: LaunchStore, launch_id: str, error_name: str | None) -> str:
    """Who rejected and why, from the approvals table, when the error came without its cause."""
    if error_name != "ApprovalRejected":
        return ""
    rejected = [a for a in store.approvals(launch_id) if a.decision == "rejected"]
    return "; ".join(f"{a.role} ({a.approver}) rejected: {a.comment or 'no reason given'}" for a in rejected)


def _last_failure(store: LaunchStore, launch_id: str, error: dict[str, str] | None) -> str:
    """The failure the timeline keeps, when the error reached the finish without its cause (a failure
    inside a Parallel branch may lose it on the way to the Catch)."""
    if not error:
        return ""
    failed = [event for event in store.timeline(launch_id) if event.kind == "stage_failed"]
    return str(failed[-1].details.get("cause") or failed[-1].message) if failed else ""


def _cause(error: dict[str, str] | None) -> str:
    """The readable part of a caught error; Lambda errors carry their message inside a JSON cause."""
    if not error:
        return ""
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    return parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause


def _begin_step(call: StageCall) -> Progress:
    progress = begin_launch(call.store, call.launch, call.profile)
    if not call.launch.rollback_of:
        call.announce(chat.started(call.launch))
    return progress


def _finish_step(call: StageCall) -> Progress:
    assert isinstance(call.event, FinishEvent)
    error = call.event.error
    caught = {"Error": error.Error, "Cause": error.Cause or ""} if error else None
    return finish_launch(
        call.store,
        call.launch,
        call.event.outcome,
        caught,
        call.client("sns"),
        call.settings.notifications_topic_arn,
        lambda: call.client("cloudwatch"),
        call.settings.paging_topic_arn,
        launch_page_link(call.settings, call.client, call.launch.launch_id),
        lambda note: lark.deliver(note, call.settings, call.client),
        lambda: call.client("kms"),
        call.settings.evidence_key_id,
    )


BEGIN_LAUNCH = StageSpec(
    "begin_launch", Stage.START, _begin_step, exits=after_begin, own_clients=("sns", "secretsmanager")
)
FINISH_LAUNCH = StageSpec(
    "finish_launch",
    Stage.FINISH,
    _finish_step,
    honours_abort=False,
    clients=("cloudwatch",),  # the launch's own alarms go with it; the release's exposure is read
    own_clients=("sns", "secretsmanager", "kms"),
    event=FinishEvent,
)
