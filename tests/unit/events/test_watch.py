"""The watch over running launches: one in a status past its profile's deadlines is counted, and logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.events.watch import STEP_SECONDS, allowed_seconds, watch_launches
from tests.conftest import move_to, unit_profile


def _stuck_counts(emitted: list[dict[str, Any]]) -> list[float]:
    return [line["LaunchesStuck"][0] for line in emitted if "LaunchesStuck" in line]


def test_a_launch_awaiting_sign_off_past_the_gates_timeout_is_stuck_and_one_within_it_is_not(
    store: Any, launch: Launch, clock: Any, emitted: list[dict[str, Any]]
) -> None:
    clock.set(datetime.now(UTC))
    move_to(store, launch.launch_id, LaunchStatus.AWAITING_APPROVAL)
    allowed = allowed_seconds(unit_profile("local"), LaunchStatus.AWAITING_APPROVAL)
    assert allowed == unit_profile("local").approvals.timeout_seconds + STEP_SECONDS
    assert watch_launches(store, clock.now() + timedelta(seconds=allowed - 1)) == []
    [stuck] = watch_launches(store, clock.now() + timedelta(seconds=allowed + 1))
    assert (stuck.launch_id, stuck.status, stuck.environment) == (launch.launch_id, "AWAITING_APPROVAL", "local")
    assert _stuck_counts(emitted) == [0, 1]
    [line] = [line for line in emitted if line["LaunchesStuck"] == [1.0]]
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]  # one figure for the controller


def test_the_time_counts_from_entering_the_status_not_from_the_launchs_start(
    store: Any, launch: Launch, clock: Any, emitted: list[dict[str, Any]]
) -> None:
    profile = unit_profile("local")
    start = clock.set(datetime.now(UTC))
    move_to(store, launch.launch_id, LaunchStatus.AWAITING_APPROVAL)
    clock.set(start + timedelta(seconds=profile.approvals.timeout_seconds))
    move_to(store, launch.launch_id, LaunchStatus.BAKING)
    baking = allowed_seconds(profile, LaunchStatus.BAKING)
    assert baking == profile.bake.checkpoints[-1] + 300 + STEP_SECONDS
    assert watch_launches(store, clock.now() + timedelta(seconds=baking - 1)) == []
    assert [s.status for s in watch_launches(store, clock.now() + timedelta(seconds=baking + 1))] == ["BAKING"]


def test_an_ended_launch_is_never_stuck(store: Any, launch: Launch, clock: Any, emitted: list[dict[str, Any]]) -> None:
    clock.set(datetime.now(UTC))
    store.set_status(launch.launch_id, LaunchStatus.FAILED, current=launch)
    assert watch_launches(store, clock.now() + timedelta(days=7)) == []
    assert _stuck_counts(emitted) == [0]


def test_a_deploy_may_take_the_sum_of_its_waits_deadlines() -> None:
    profile = unit_profile("local")
    migration = profile.backend.migration
    assert migration is not None
    assert allowed_seconds(profile, LaunchStatus.DEPLOYING) == (
        profile.database.snapshot_deadline_seconds
        + migration.deadline_seconds
        + profile.backend.deadline_seconds
        + 3 * STEP_SECONDS
    )
