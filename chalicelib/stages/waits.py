"""Event-driven waits: the execution waits on a task token that AWS's event, or one look, answers.

A wait is opened by the state that waits (its task token kept under each resource it waits on), then the
resource is looked at once: what happened before the wait was kept is not missed. From then on the
event that AWS emits for the resource answers it (`on_event`); when none comes by the deadline, one
last look decides (`at_deadline`). Whoever closes the wait first answers; the others find it gone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import (
    LaunchAborted,
)
from chalicelib.domain.models import Launch, WaitEvent, profile_of
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Progress
from chalicelib.domain.service_events import Notice
from chalicelib.platform.log import about, logger
from chalicelib.stages.harness import WAIT_FUNCTION, StageCall, StageSpec, wait_row
from chalicelib.stages.wait_kinds import WAIT_KINDS, WaitRow
from chalicelib.stages.wait_outcomes import Outcome, Sighting
from chalicelib.store import LaunchStore, StatusConflict, Wait, WaitKind

# Step Functions says TaskTimedOut for a closed task, moto says InvalidToken: both mean "decided already".
CLOSED_TASK_ERRORS = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


def answer_task(send: Callable[..., Any], **kwargs: Any) -> bool:
    """Answer the execution; False when the task had already closed (decided, timed out)."""

    try:
        send(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in CLOSED_TASK_ERRORS:
            raise
        return False
    return True


def begin_wait(
    store: LaunchStore,
    sfn: Any,
    launch: Launch,
    kind: WaitKind,
    token: str,
    deadline_seconds: int,
    sighting: Sighting,
    look_again: Callable[[], Sighting] | None = None,
) -> Outcome:
    """Keep the wait under the resources the first look named, then look again: what changed before the wait
    was kept (its event found no wait) is seen by the second look; what changes after, its event answers.
    Answers at once what a look decided."""
    moment = store.clock.now()
    wait = Wait(
        launch_id=launch.launch_id,
        kind=kind,
        token=token,
        resources=sighting.resources,
        expects=sighting.expects or {},
        since=moment,
        deadline=moment + timedelta(seconds=deadline_seconds),
    )
    store.open_wait(wait)
    outcome = sighting.outcome
    if outcome.verdict == "pending" and look_again is not None:
        outcome = look_again().outcome
    if outcome.verdict != "pending":
        settle(store, sfn, wait, outcome, "seen at once")
        return outcome
    # Written once both looks are done: from here on only the resource's event (or the deadline) answers.
    store.append_event(
        launch.launch_id,
        "waiting",
        f"waiting for AWS's event on {', '.join(short(r) for r in wait.resources)} (deadline {deadline_seconds}s)",
        stage=WAIT_KINDS[kind].stage,
        details={"kind": kind, "resources": wait.resources, **wait.expects},
    )
    if WAIT_KINDS[kind].honours_abort:
        # An abort asked for while the wait was being kept found no wait to release: release it here.
        abort = store.get_launch(launch.launch_id).abort
        if abort:
            abort_open_wait(store, sfn, launch.launch_id, f"aborted by {abort['aborted_by']}: {abort['reason']}")
    return outcome


def settle(store: LaunchStore, sfn: Any, wait: Wait, outcome: Outcome, how: str) -> bool:
    """Close the wait, keep what it came to with the launch, and answer the execution; False when someone
    else closed it first (a duplicate event, the deadline's look)."""
    if outcome.verdict == "pending" or not store.close_wait(wait):
        return False
    launch = store.get_launch(wait.launch_id)
    stage = WAIT_KINDS[wait.kind].stage
    error = WAIT_KINDS[wait.kind].error.__name__
    if outcome.verdict == "done":
        event = store.event("wait_over", f"{outcome.reason} ({how})", stage, {"kind": wait.kind, "how": how})
    else:
        details = {"kind": wait.kind, "how": how, "error": error, "cause": outcome.reason}
        if outcome.happened_at is not None:
            details["happened_at"] = outcome.happened_at.isoformat()
        event = store.event("stage_failed", f"{stage} failed: {outcome.reason} ({how})", stage, details)
    store.write_progress(
        launch, progress=outcome.progress, kept_under=stage if outcome.progress else None, events=[event]
    )
    if outcome.verdict == "done":
        output = outcome.progress.model_dump_json(exclude_unset=True) if outcome.progress else "{}"
        answer_task(sfn.send_task_success, taskToken=wait.token, output=output)
    else:
        answer_task(sfn.send_task_failure, taskToken=wait.token, error=error, cause=outcome.reason[:32768])
    return True


# How often an event's progress is judged again when other writes keep coming in between.
PROGRESS_ATTEMPTS = 5


def on_event(store: LaunchStore, sfn: Any, notice: Notice) -> list[str]:
    """Answer every launch waiting on the resource the event names, when the event decides its wait; the
    launches answered. An event from another account than the launch's environment is not believed."""
    answered: list[str] = []
    for wait in store.waits_on(notice.resource):
        if WAIT_KINDS[wait.kind].hears != notice.kind:
            continue
        launch = store.get_launch(wait.launch_id)
        about(launch_id=launch.launch_id, execution=launch.execution_arn)
        if launch.status.is_final:
            store.close_wait(wait)
            continue
        profile = profile_of(launch)
        if notice.account != profile.target.account_id or notice.account != _account(notice.resource):
            logger.warning(
                "event %s from account %s names %s, which launch %s waits on in %s: ignored",
                notice.event_id,
                notice.account,
                notice.resource,
                launch.launch_id,
                profile.target.account_id,
            )
            continue
        outcome = judge(wait, notice, launch, profile)
        for _ in range(PROGRESS_ATTEMPTS):
            if outcome.verdict != "pending" or outcome.progress is None:
                break
            # One canary of several passed: kept, so the next one's event finds it decided. Their events
            # may come together: a write made since this one's read sends it back to read and judge again.
            try:
                store.write_progress(
                    launch, progress=outcome.progress, kept_under=WAIT_KINDS[wait.kind].stage, unchanged=True
                )
                break
            except StatusConflict:
                launch = store.get_launch(wait.launch_id)
                if launch.status.is_final:
                    break
                outcome = judge(wait, notice, launch, profile)
        if outcome.verdict == "pending" or launch.status.is_final:
            continue
        if settle(store, sfn, wait, outcome, f"event {notice.event_id}"):
            logger.info("wait answered", extra={"wait": wait.kind, "verdict": outcome.verdict})
            answered.append(launch.launch_id)
    return answered


def judge(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """What the event means for this launch's wait: progress decides nothing; the rest its kind's judge."""
    if notice.verdict == "progress":
        return Outcome(verdict="pending", reason=notice.reason)
    return WAIT_KINDS[wait.kind].judge(wait, notice, launch, profile)


def at_deadline(
    store: LaunchStore, launch: Launch, kind: WaitKind, sighting: Sighting, overrun: Callable[[], None] | None = None
) -> Progress:
    """The deadline passed without the event: one last look decides. Done (the event was lost): go on with
    what the look saw; otherwise the wait's error, after `overrun` (stopping what may not go on)."""
    wait = store.open_wait_of(launch.launch_id)
    if wait is not None and wait.kind == kind:
        store.close_wait(wait)
    outcome = sighting.outcome
    stage = WAIT_KINDS[kind].stage
    if outcome.verdict == "done":
        event = store.event("wait_over", f"{stage}: {outcome.reason} (seen at the deadline: no event came)", stage)
        store.write_progress(
            launch, progress=outcome.progress, kept_under=stage if outcome.progress else None, events=[event]
        )
        return outcome.progress or Progress()
    if outcome.verdict == "pending" and overrun is not None:
        overrun()
    reason = outcome.reason if outcome.verdict == "failed" else f"not done by its deadline: {outcome.reason}"
    raise WAIT_KINDS[kind].error(reason)


def abort_open_wait(store: LaunchStore, sfn: Any, launch_id: str, cause: str) -> bool:
    """Release the execution from what it waits on with LaunchAborted: an abort is heard at once."""
    wait = store.open_wait_of(launch_id)
    if wait is None or not store.close_wait(wait):
        return False
    answer_task(sfn.send_task_failure, taskToken=wait.token, error=LaunchAborted.__name__, cause=cause[:32768])
    return True


def short(arn: str) -> str:
    """The readable end of an ARN: service/cluster/name, snapshot:name, alarm:name."""
    return arn.split(":", 5)[-1] if arn.startswith("arn:") else arn


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _wait_step(row: WaitRow) -> Callable[[StageCall], Progress]:
    """A wait's row: opens the wait and looks once, or, called without a token at the deadline, looks a last time."""

    def run(call: StageCall) -> Progress:
        event = call.event
        assert isinstance(event, WaitEvent)

        def look() -> Sighting:
            return row.look(call.launch, call.profile, call.client(row.service))

        sighting = look()
        if event.task_token is None:
            stop = row.stop
            overrun = (lambda: stop(call.launch, call.profile, call.client(row.service))) if stop else None
            return at_deadline(call.store, call.launch, row.kind, sighting, overrun)
        sfn = call.client("stepfunctions")
        outcome = begin_wait(
            call.store, sfn, call.launch, row.kind, event.task_token, event.deadline_seconds, sighting, look
        )
        return outcome.progress or Progress()

    return run


WAIT_STEPS: dict[str, StageSpec] = {
    wait_row(row.kind): StageSpec(
        wait_row(row.kind),
        row.stage,
        _wait_step(row),
        honours_abort=row.honours_abort,
        clients=(row.service,),
        own_clients=("stepfunctions",),
        event=WaitEvent,
        function=WAIT_FUNCTION,
        persists=False,
    )
    for row in WAIT_KINDS.values()
}
