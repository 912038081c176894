"""The controller's watch over its launches: one stuck in a status longer than its profile allows is counted.

Every wait of a launch has a deadline, so a launch that outlives the sum of its status's deadlines is one the
state machine has lost hold of (a step retried without end, an execution stopped by hand before its end was
heard): the count is a metric, and an alarm in the template pages on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.models import Launch, LaunchStatus, TimelineEvent, profile_of
from chalicelib.platform import telemetry
from chalicelib.platform.log import logger

if TYPE_CHECKING:
    from chalicelib.domain.profiles import EnvironmentProfile
    from chalicelib.store import LaunchStore

# One step's allowance: a function's 15-minute limit, its retries' backoff included.
STEP_SECONDS = 900
# How far back running launches are looked for: past a sign-off's longest wait (7 days) and a day more.
LOOKBACK = timedelta(days=8)


@dataclass(frozen=True)
class StuckLaunch:
    launch_id: str
    environment: str
    status: str
    seconds_in_status: float
    allowed_seconds: float


def allowed_seconds(profile: EnvironmentProfile, status: LaunchStatus) -> float:
    """How long a launch may stay in `status`: the deadlines of what it waits for there, and a step's time
    for each step of its own."""
    backend, database = profile.backend, profile.database
    if status == LaunchStatus.AWAITING_APPROVAL:
        return profile.approvals.timeout_seconds + STEP_SECONDS
    if status == LaunchStatus.DEPLOYING:
        snapshot = database.snapshot_deadline_seconds if database.snapshot else 0
        migration = backend.migration.deadline_seconds if backend.migration else 0
        # The rollback point, the frontend (its invalidation included), the backend's roll.
        return snapshot + migration + backend.deadline_seconds + 3 * STEP_SECONDS
    if status == LaunchStatus.BAKING:
        # The last checkpoint, then the alarms' watch goes on 5 minutes past it (the bake's own bound).
        return profile.bake.checkpoints[-1] + 300 + STEP_SECONDS
    if status == LaunchStatus.ROLLING_BACK:
        restore = database.snapshot_deadline_seconds if database.restore_on_rollback else 0
        return backend.deadline_seconds + restore + 2 * STEP_SECONDS
    if status == LaunchStatus.VERIFYING:
        # The smoke test, then the canaries' runs, waited for up to their deadline.
        functional = profile.functional.deadline_seconds if profile.functional else 0
        return functional + 2 * STEP_SECONDS
    return STEP_SECONDS  # REQUESTED, PREFLIGHT: one step each


def stuck_launches(store: LaunchStore, now: datetime) -> list[StuckLaunch]:
    """The launches that have not ended and have been in their status longer than allowed."""
    stuck = []
    for launch in store.running_since(now - LOOKBACK):
        entered = entered_status(launch, store.timeline(launch.launch_id))
        allowed = allowed_seconds(profile_of(launch), launch.status)
        spent = (now - entered).total_seconds()
        if spent > allowed:
            environment = launch.request.environment
            stuck.append(StuckLaunch(launch.launch_id, environment, str(launch.status), spent, allowed))
    return stuck


def entered_status(launch: Launch, timeline: list[TimelineEvent]) -> datetime:
    """When the launch entered its status: its last status event's moment (its creation, for REQUESTED)."""
    arrived = [e.at for e in timeline if e.kind == "status" and e.message.endswith(f"-> {launch.status}")]
    return arrived[-1] if arrived else launch.created_at


def watch_launches(store: LaunchStore, now: datetime) -> list[StuckLaunch]:
    """Count the stuck launches into the controller's metric (0 too: the alarm sees the watch is alive), and
    log each, so the page leads to the launch."""
    stuck = stuck_launches(store, now)
    for launch in stuck:
        logger.warning(
            "launch stuck",
            extra={
                "launch_id": launch.launch_id,
                "environment": launch.environment,
                "status": launch.status,
                "seconds_in_status": round(launch.seconds_in_status),
                "allowed_seconds": launch.allowed_seconds,
            },
        )
    telemetry.controller(counts={"LaunchesStuck": len(stuck)})
    return stuck
