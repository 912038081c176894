"""Start and end of a launch: the environment lock, the final status, the notification."""

from __future__ import annotations

import json
from typing import Any, Literal

from chalicelib.models import Launch, LaunchStatus, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore

Outcome = Literal["succeeded", "rolled_back", "rollback_failed", "unchanged"]

# Errors that end a launch before it changed anything, by the class name the state machine caught.
_UNCHANGED_STATUS = {
    "PreflightBlocked": LaunchStatus.BLOCKED,
    "ApprovalRejected": LaunchStatus.REJECTED,
    "States.Timeout": LaunchStatus.EXPIRED,
}


def begin_launch(store: LaunchStore, launch: Launch, profile: EnvironmentProfile) -> dict[str, Any]:
    """Hold the environment for this launch and hand the state machine its waits."""
    store.acquire_lock(launch.request.environment, launch.launch_id, profile.lock_lease_seconds)
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT, stage=Stage.PREFLIGHT, current=launch)
    return {
        "approval_timeout_seconds": profile.approvals.timeout_seconds,
        "backend_poll_seconds": profile.backend.poll_seconds,
        "bake_poll_seconds": profile.bake.poll_seconds,
    }


def final_status(outcome: Outcome, error_name: str | None) -> LaunchStatus:
    if outcome == "succeeded":
        return LaunchStatus.SUCCEEDED
    if outcome == "rolled_back":
        return LaunchStatus.ROLLED_BACK
    if outcome == "rollback_failed":
        return LaunchStatus.ROLLBACK_FAILED
    return _UNCHANGED_STATUS.get(error_name or "", LaunchStatus.FAILED)


def finish_launch(
    store: LaunchStore,
    launch_id: str,
    outcome: Outcome,
    error: dict[str, str] | None,
    sns: Any,
    topic_arn: str,
) -> dict[str, Any]:
    """Write the final status, release the environment and tell the team."""
    error_name = (error or {}).get("Error")
    status = final_status(outcome, error_name)
    launch = store.get_launch(launch_id)
    if launch.status.is_final:
        return {"status": launch.status}  # a retried step: already finished
    if (
        status in {LaunchStatus.ROLLED_BACK, LaunchStatus.ROLLBACK_FAILED}
        and launch.status != LaunchStatus.ROLLING_BACK
    ):
        launch = store.set_status(launch_id, LaunchStatus.ROLLING_BACK, stage=Stage.ROLLBACK, current=launch)
    cause = _cause(error) or _rejection(store, launch_id, error_name)
    store.set_status(
        launch_id,
        status,
        stage=Stage.FINISH,
        error={"error": error_name, "cause": cause} if error else None,
        current=launch,
    )
    released = store.release_lock(launch.request.environment, launch_id)
    store.append_event(
        launch_id,
        "finished",
        f"launch {status}" + (f": {error_name}: {cause}" if error else ""),
        stage=Stage.FINISH,
        details={"lock_released": released},
    )
    if topic_arn:
        request = launch.request
        sns.publish(
            TopicArn=topic_arn,
            Subject=f"[{request.environment}] launch of {request.version} {status}"[:100],
            Message=json.dumps(
                {
                    "launch_id": launch_id,
                    "environment": request.environment,
                    "version": request.version,
                    "status": status,
                    "error": error_name,
                    "cause": cause,
                }
            ),
            MessageAttributes={"status": {"DataType": "String", "StringValue": str(status)}},
        )
    return {"status": status}


def _rejection(store: LaunchStore, launch_id: str, error_name: str | None) -> str:
    """Who rejected and why, from the approvals table, when the error came without its cause."""
    if error_name != "ApprovalRejected":
        return ""
    rejected = [a for a in store.approvals(launch_id) if a.decision == "rejected"]
    return "; ".join(f"{a.role} ({a.approver}) rejected: {a.comment or 'no reason given'}" for a in rejected)


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
