"""An execution that ended without its launch's finish: the finish itself failed, it timed out, or someone
stopped it by hand. Step Functions says so with an event; the launch is ended truthfully and people told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.models import LaunchStatus, Stage
from chalicelib.domain.next_steps import next_steps
from chalicelib.platform import telemetry
from chalicelib.platform.chat import ChatNotification
from chalicelib.stages.evidence import seal_launch
from chalicelib.stages.lifecycle import notify_end
from chalicelib.store import LaunchNotFound, LaunchStore, StatusConflict


class ExecutionEnded(BaseModel):
    """The detail of Step Functions' "Step Functions Execution Status Change" event that matters here."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn")
    name: str
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    error: str | None = None
    cause: str | None = None


# What an execution ends as without its finish, as DescribeExecution says it.
UNFINISHED_STATUSES = {"FAILED", "TIMED_OUT", "ABORTED"}


def confirmed(ended: ExecutionEnded, account: str, region: str, machine_arn: str, sfn: Any) -> ExecutionEnded | None:
    """The end as Step Functions itself tells it, for an event from this controller's own account and region
    about an execution of its own state machine; None for any other (anyone may put an event with any detail
    on a bus that takes it: the event names an execution, the controller asks Step Functions how it is)."""
    parts = machine_arn.split(":")
    if len(parts) != 7 or (account, region) != (parts[4], parts[3]):
        return None
    own = f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:execution:{parts[6]}:"
    if not ended.execution_arn.startswith(own):
        return None
    described = sfn.describe_execution(executionArn=ended.execution_arn)
    if described["status"] not in UNFINISHED_STATUSES:
        return None  # still running, or it succeeded: its finish wrote the launch's end, or will
    return ended.model_copy(
        update={"status": described["status"], "error": described.get("error"), "cause": described.get("cause")}
    )


def execution_ended(
    store: LaunchStore,
    sns: Any,
    topic_arn: str,
    ended: ExecutionEnded,
    paging: str = "",
    page: str = "",
    lark: Callable[[ChatNotification], None] | None = None,
    kms: Callable[[], Any] | None = None,
    evidence_key: str = "",
) -> bool:
    """End the launch whose execution ended before its finish wrote its end, sealing its timeline; True when
    this call ended it.

    Nothing it changed was rolled back as far as anyone knows: with changes, it ends ROLLBACK_FAILED and the
    environment stays held until a person has looked (`launchctl unlock`), as after a failed rollback;
    without, it ends FAILED and the environment is released. People are paged either way."""
    try:
        launch = store.get_launch(ended.name)
    except LaunchNotFound:
        return False  # another state machine's execution
    if launch.execution_arn != ended.execution_arn or launch.status.is_final:
        return False  # another execution of that name, or the finish did write the end
    environment = launch.request.environment
    cause = f"its execution ended {ended.status}" + (f": {ended.error}: {ended.cause or ''}" if ended.error else "")
    error = {"error": f"Execution{ended.status.title().replace('_', '')}", "cause": cause}
    try:
        if launch.changes or launch.status in {LaunchStatus.DEPLOYING, LaunchStatus.VERIFYING, LaunchStatus.BAKING}:
            if launch.status != LaunchStatus.ROLLING_BACK:
                launch = store.set_status(launch.launch_id, LaunchStatus.ROLLING_BACK, Stage.ROLLBACK, current=launch)
            final = LaunchStatus.ROLLBACK_FAILED if launch.changes else LaunchStatus.ROLLED_BACK
        else:
            final = LaunchStatus.FAILED
        steps = next_steps(launch, final, cause)
        if final == LaunchStatus.ROLLBACK_FAILED:
            lock = {
                "lock_held": store.hold_lock(environment, launch.launch_id, f"execution of {launch.launch_id} ended")
            }
        else:
            lock = {"lock_released": store.release_lock(environment, launch.launch_id)}
        summary = f"launch {final}: {cause}" + (
            f"; {environment} stays locked" if final == LaunchStatus.ROLLBACK_FAILED else ""
        )
        launch = store.set_status(
            launch.launch_id,
            final,
            stage=Stage.FINISH,
            error=error,
            current=launch,
            also=[store.event("finished", summary, Stage.FINISH, {**lock, "manual_steps": steps, **error})],
        )
    except StatusConflict:
        return False  # a duplicate of the event ended it first
    telemetry.launch_ended(launch, str(final), store.timeline(launch.launch_id), store.clock.now())
    telemetry.controller(counts={telemetry.UNFINISHED: 1})
    seal_launch(store, launch.launch_id, kms, evidence_key)
    if topic_arn:
        notify_end(
            sns,
            topic_arn,
            launch,
            final,
            error["error"],
            cause,
            steps or [cause],
            urgent=True,
            paging_topic_arn=paging,
            page=page,
            lark=lark,
        )
    return True
