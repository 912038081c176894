"""Every kind of wait on AWS, one row each: its stage, the error it ends a launch with, the event that
answers it, the service its look reads, its look, its judge of that event, and what its deadline stops.

Adding a kind of wait is a row here (its look and judge beside its stage's code) and its state in the ASL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import (
    BackendRolloutFailed,
    BakeBreached,
    FunctionalTestFailed,
    MigrationFailed,
    RollbackIncomplete,
    RollbackPointFailed,
)
from chalicelib.domain.models import Launch, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.service_events import Notice
from chalicelib.stages.backend import (
    migration_heard,
    migration_sighting,
    rollout_heard,
    rollout_sighting,
    stop_migration,
)
from chalicelib.stages.bake import alarm_heard, alarm_sighting
from chalicelib.stages.functional import canary_run_heard, canary_sighting
from chalicelib.stages.rollback import restore_heard, restore_sighting
from chalicelib.stages.rollback_point import snapshot_heard, snapshot_sighting
from chalicelib.stages.wait_outcomes import Outcome, Sighting
from chalicelib.store import Wait


@dataclass(frozen=True)
class WaitRow:
    kind: str
    stage: Stage  # its progress is kept there, its events are that stage's
    error: type[Exception]  # what a wait that failed raises in the execution
    hears: str  # the kind of service event (chalicelib/domain/service_events.py) that answers it
    service: str  # what its look reads, in the environment
    look: Callable[[Launch, EnvironmentProfile, Any], Sighting]
    judge: Callable[[Wait, Notice, Launch, EnvironmentProfile], Outcome]
    stop: Callable[[Launch, EnvironmentProfile, Any], None] | None = None  # what may not go on past the deadline
    honours_abort: bool = True  # False where undoing is what an abort asks for


WAIT_KINDS: dict[str, WaitRow] = {
    row.kind: row
    for row in (
        WaitRow(
            "snapshot", Stage.ROLLBACK_POINT, RollbackPointFailed, "snapshot", "rds", snapshot_sighting, snapshot_heard
        ),
        WaitRow(
            "migration",
            Stage.BACKEND,
            MigrationFailed,
            "migration",
            "ecs",
            migration_sighting,
            migration_heard,
            stop=stop_migration,
        ),
        WaitRow("rollout", Stage.BACKEND, BackendRolloutFailed, "rollout", "ecs", rollout_sighting, rollout_heard),
        WaitRow(
            "restore",
            Stage.ROLLBACK,
            RollbackIncomplete,
            "rollout",
            "ecs",
            restore_sighting,
            restore_heard,
            honours_abort=False,
        ),
        WaitRow("alarms", Stage.BAKE, BakeBreached, "alarm", "cloudwatch", alarm_sighting, alarm_heard),
        # The functional tests follow the smoke test, their runs kept beside its checks.
        WaitRow("canary", Stage.SMOKE, FunctionalTestFailed, "canary", "synthetics", canary_sighting, canary_run_heard),
    )
}
