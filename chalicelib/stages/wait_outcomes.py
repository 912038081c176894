"""What a wait comes to: a look's sighting and an event's outcome, and the outcomes the stages' judges share.
Plain models, so the stages that look and judge need nothing of the waits' machinery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import BakeProgress, Progress
from chalicelib.domain.service_events import task_outcome


class Outcome(BaseModel):
    """Where a wait stands: still pending, or done (the progress to go on with) or failed (why)."""

    verdict: Literal["pending", "done", "failed"]
    reason: str
    progress: Progress | None = None
    happened_at: datetime | None = None  # when AWS says it happened, when it says


@dataclass(frozen=True)
class Sighting:
    """One look at what a wait waits on: the resources whose events decide it, and how it stands now."""

    resources: list[str]
    outcome: Outcome
    expects: dict[str, str] | None = None


def migration_outcome(launch: Launch, profile: EnvironmentProfile, task: dict[str, Any]) -> Outcome:
    migration = profile.backend.migration
    assert migration is not None, "a migration wait is opened for a profile with a migration"
    succeeded, reason = task_outcome(task, migration.container)
    if succeeded is None:
        return Outcome(verdict="pending", reason=reason)
    if succeeded is False:
        return Outcome(verdict="failed", reason=reason)
    backend = launch.results.backend
    assert backend is not None
    return Outcome(
        verdict="done", reason=reason, progress=backend.model_copy(update={"phase": "migrated", "reason": reason})
    )


def snapshot_ready(launch: Launch, status: str, reason: str) -> Outcome:
    point = launch.results.rollback_point
    assert point is not None, "a snapshot wait follows the rollback point"
    progress = point.model_copy(update={"snapshot_status": status, "ready": True})
    return Outcome(verdict="done", reason=f"snapshot {point.db_snapshot_id} {status}: {reason}", progress=progress)


def restored(launch: Launch, reason: str) -> Outcome:
    """The service is back on its recorded revision: the rollback has settled (its other parts settled
    before it waited)."""
    rollback = launch.results.rollback
    if rollback is None:
        return Outcome(verdict="done", reason=reason)
    undone = {
        change: part.model_copy(update={"settled": True, "reason": reason}) if change == "backend" else part
        for change, part in rollback.undone.items()
    }
    progress = rollback.model_copy(update={"undone": undone, "settled": not rollback.left})
    return Outcome(verdict="done", reason=f"backend restored: {reason}", progress=progress)


def alarm_fired(launch: Launch, reasons: list[str]) -> Outcome:
    bake = launch.results.bake
    progress = bake.model_copy(update={"verdict": "breach"}) if isinstance(bake, BakeProgress) else None
    return Outcome(verdict="failed", reason="; ".join(reasons), progress=progress)
