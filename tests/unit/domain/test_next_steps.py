"""What a person must do after a launch: the same steps in the channel and on the page."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.next_steps import next_steps
from chalicelib.domain.progress import LaunchResults, RollbackProgress, UndoneChange
from tests.conftest import REQUESTER, make_request, unit_profile


def _ended(undone: dict[str, UndoneChange], left: list[str], changes: list[str]) -> Launch:
    moment = datetime.now(UTC)
    rollback = RollbackProgress(started_at=moment, undone=undone, settled=not left, left=left)
    return Launch(
        launch_id="local-20261128-000000-abcdef",
        request=make_request(),
        requested_by=REQUESTER,
        status=LaunchStatus.ROLLING_BACK,
        created_at=moment,
        updated_at=moment,
        profile=unit_profile("local"),
        changes=changes,
        results=LaunchResults(rollback=rollback),
    )


def test_a_database_restored_beside_the_original_asks_a_person_to_switch_the_application() -> None:
    restored = UndoneChange(settled=True, restored_instance="acme-db-restored-1a2b3c4d")
    launch = _ended({"database": restored, "frontend": UndoneChange(settled=True)}, [], ["frontend", "database"])
    steps = next_steps(launch, LaunchStatus.ROLLED_BACK, "smoke test failed")
    assert len(steps) == 1
    assert steps[0].startswith("switch the application to the restored database acme-db-restored-1a2b3c4d")
    assert launch.profile is not None
    assert launch.profile.database.instance_id in steps[0]


def test_a_rollback_that_undid_everything_leaves_nothing_to_do() -> None:
    launch = _ended({"frontend": UndoneChange(settled=True)}, [], ["frontend"])
    assert next_steps(launch, LaunchStatus.ROLLED_BACK, "") == []


def test_a_failed_rollback_names_what_is_left_then_the_unlock() -> None:
    launch = _ended(
        {"frontend": UndoneChange(settled=True)}, ["backend: still on revision 42"], ["frontend", "backend"]
    )
    assert next_steps(launch, LaunchStatus.ROLLBACK_FAILED, "ECS said no") == [
        "undo by hand: backend: still on revision 42",
        "then run: launchctl unlock local --reason '<what you did>'",
    ]
