"""DynamoDB store: launches, timeline, lock and approvals, against moto."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.models import Approval, ApprovalRequest, Change, Launch, LaunchStatus, RollbackPoint, Stage
from chalicelib.domain.progress import SmokeProgress
from chalicelib.store import AlreadyDecided, EnvironmentLocked, LaunchNotFound
from chalicelib.store.dynamodb import Keys


def test_a_created_launch_reads_back(store: Any, launch: Launch) -> None:
    assert store.get_launch(launch.launch_id) == launch


def test_an_unknown_launch_is_not_found(store: Any) -> None:
    with pytest.raises(LaunchNotFound):
        store.get_launch("local-nope-000000")


def test_status_changes_are_written_and_timelined(store: Any, launch: Launch) -> None:
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT, stage=Stage.PREFLIGHT)
    assert store.get_launch(launch.launch_id).status == LaunchStatus.PREFLIGHT
    assert [event.message for event in store.timeline(launch.launch_id)] == ["status REQUESTED -> PREFLIGHT"]


def test_a_forbidden_transition_is_refused_and_not_written(store: Any, launch: Launch) -> None:
    from chalicelib.domain.models import InvalidTransition

    with pytest.raises(InvalidTransition):
        store.set_status(launch.launch_id, LaunchStatus.SUCCEEDED)
    assert store.get_launch(launch.launch_id).status == LaunchStatus.REQUESTED


def test_results_and_changes_accumulate(store: Any, launch: Launch) -> None:
    store.record_result(launch.launch_id, Stage.SMOKE, SmokeProgress(checks=[]))
    store.record_change(launch.launch_id, Change.BACKEND)
    store.record_change(launch.launch_id, Change.BACKEND)
    store.record_change(launch.launch_id, Change.FRONTEND)
    stored = store.get_launch(launch.launch_id)
    assert stored.results.model_dump(mode="json") == {"smoke": {"checks": []}}
    assert stored.changes == [Change.BACKEND, Change.FRONTEND]


def test_the_rollback_point_is_recorded_once(store: Any, launch: Launch) -> None:
    first = RollbackPoint(task_definition_arn="td:1", site_versions={"a": "v1"}, recorded_at=datetime.now(UTC))
    second = first.model_copy(update={"task_definition_arn": "td:2"})
    assert store.record_rollback_point(launch.launch_id, first)
    assert not store.record_rollback_point(launch.launch_id, second)
    assert store.get_launch(launch.launch_id).rollback_point == first


def test_launches_list_newest_first(store: Any, launch: Launch) -> None:
    later = launch.model_copy(update={"launch_id": "local-20261128-000001-bbbbbb", "created_at": datetime.now(UTC)})
    store.create_launch(later)
    assert [item.launch_id for item in store.list_launches()[0]] == [later.launch_id, launch.launch_id]


def _many(store: Any, launch: Launch, count: int) -> list[Launch]:
    """`count` launches a second apart, alternating staging/local, every third one FAILED; newest first."""
    from datetime import timedelta

    from tests.conftest import make_request

    made = []
    for i in range(count):
        record = launch.model_copy(
            update={
                "launch_id": f"local-20261128-{i:06d}-cccccc",
                "created_at": launch.created_at + timedelta(seconds=i + 1),
                "request": make_request(environment="staging" if i % 2 else "local"),
                "status": LaunchStatus.FAILED if i % 3 == 0 else LaunchStatus.REQUESTED,
            }
        )
        store.create_launch(record)
        made.append(record)
    return [launch, *made][::-1]


def test_pages_of_launches_follow_on_without_gaps_or_repeats(store: Any, launch: Launch) -> None:
    everything = [item.launch_id for item in _many(store, launch, 12)]
    seen, after = [], None
    while True:
        page, after = store.list_launches(5, after=after)
        seen += [item.launch_id for item in page]
        if after is None:
            break
    assert seen == everything


def test_launches_filter_by_environment_and_status_across_pages(store: Any, launch: Launch) -> None:
    made = _many(store, launch, 12)
    wanted = [m.launch_id for m in made if m.request.environment == "staging" and m.status == LaunchStatus.FAILED]
    seen, after = [], None
    while True:
        page, after = store.list_launches(1, environment="staging", status=LaunchStatus.FAILED, after=after)
        seen += [item.launch_id for item in page]
        if after is None:
            break
    assert seen == wanted


class CountingReads:
    """DynamoDB whose queries add up the items each one read (ScannedCount: before any filter)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.read: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        answer = self._client.query(**kwargs)
        self.read.append(answer["ScannedCount"])
        return answer


@pytest.mark.parametrize(
    ("environment", "status"),
    [(None, None), ("staging", None), (None, LaunchStatus.FAILED), ("staging", LaunchStatus.FAILED)],
)
def test_every_list_filter_reads_no_more_launches_than_its_page(
    store: Any, launch: Launch, environment: str | None, status: LaunchStatus | None
) -> None:
    from chalicelib.store import LaunchStore

    made = _many(store, launch, 30)
    wanted = [
        m.launch_id
        for m in made
        if (environment is None or m.request.environment == environment) and (status is None or m.status == status)
    ]
    counting = CountingReads(store._db)
    listing = LaunchStore(counting, store._table, store.clock)
    seen, after = [], None
    while True:
        page, after = listing.list_launches(3, environment=environment, status=status, after=after)
        seen += [item.launch_id for item in page]
        if after is None:
            break
    assert seen == wanted
    assert max(counting.read) <= 3
    assert sum(counting.read) == len(wanted)


def test_a_launch_moves_between_the_status_lists_as_its_status_changes(store: Any, launch: Launch) -> None:
    def listed(status: LaunchStatus) -> list[str]:
        return [item.launch_id for item in store.list_launches(environment="local", status=status)[0]]

    assert listed(LaunchStatus.REQUESTED) == [launch.launch_id]
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT, stage=Stage.PREFLIGHT)
    assert (listed(LaunchStatus.REQUESTED), listed(LaunchStatus.PREFLIGHT)) == ([], [launch.launch_id])
    [shown] = store.list_launches(status=LaunchStatus.PREFLIGHT)[0]
    assert (shown.status, shown.stage, shown.request) == (LaunchStatus.PREFLIGHT, Stage.PREFLIGHT, launch.request)


def test_the_deployed_table_is_the_one_the_store_is_tested_against() -> None:
    import json
    from pathlib import Path

    from chalicelib.store import table_definition

    deployed = json.loads((Path(__file__).parents[3] / "deploy" / "resources.json").read_text())
    table = deployed["Resources"]["LaunchTable"]["Properties"]
    tested = table_definition("any")
    for shape in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert table[shape] == tested[shape], shape


def test_the_lock_admits_one_launch_per_environment(store: Any) -> None:
    store.acquire_lock("production", "launch-a", 600)
    store.acquire_lock("production", "launch-a", 600)  # re-taking our own lock renews it
    with pytest.raises(EnvironmentLocked) as caught:
        store.acquire_lock("production", "launch-b", 600)
    assert caught.value.holder == "launch-a"
    store.acquire_lock("staging", "launch-b", 600)


def test_only_the_holder_releases_the_lock(store: Any) -> None:
    store.acquire_lock("production", "launch-a", 600)
    assert not store.release_lock("production", "launch-b")
    assert store.lock_holder("production") == "launch-a"
    assert store.release_lock("production", "launch-a")
    assert store.lock_holder("production") is None


def test_an_expired_lease_can_be_taken_over(store: Any) -> None:
    store.acquire_lock("production", "launch-a", -1)
    assert store.lock_holder("production") is None
    store.acquire_lock("production", "launch-b", 600)
    assert store.lock_holder("production") == "launch-b"


def _open_request(store: Any, launch: Launch, role: str = "qa_lead") -> ApprovalRequest:
    moment = datetime.now(UTC)
    request = ApprovalRequest(
        approval_id="e" * 32,
        launch_id=launch.launch_id,
        role=role,
        approvers=["q@a", "r@a"],
        requested_at=moment,
        expires_at=moment,
    )
    [stored] = store.open_approval_gate(launch.launch_id, "token", [request], moment)
    return stored


def test_an_approval_gate_does_not_open_for_a_launch_that_ended(store: Any, launch: Launch) -> None:
    from chalicelib.store import LaunchHasEnded

    # The execution's gate timed out (or the launch was aborted) before its step opened the gate.
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    store.set_status(launch.launch_id, LaunchStatus.EXPIRED)
    with pytest.raises(LaunchHasEnded):
        _open_request(store, launch)
    assert store.approval_requests(launch.launch_id) == []
    assert store.approval_gate(launch.launch_id) is None


def test_a_role_decides_only_once_and_its_request_says_by_whom(store: Any, launch: Launch) -> None:
    request = _open_request(store, launch)
    assert store.approval_request(request.approval_id) == request
    approval = Approval(role="qa_lead", decision="approved", approver="q@a", decided_at=datetime.now(UTC))
    store.record_decision(launch.launch_id, approval, request.approval_id)
    with pytest.raises(AlreadyDecided):
        store.record_decision(launch.launch_id, approval.model_copy(update={"approver": "r@a"}), request.approval_id)
    assert store.approvals(launch.launch_id) == [approval]
    decided = store.approval_request(request.approval_id)
    assert decided is not None
    assert (decided.state, decided.decided_by) == ("approved", "q@a")


def test_an_unknown_approval_id_names_no_request(store: Any) -> None:
    assert store.approval_request("0" * 32) is None


def test_launch_history_reads_launch_decisions_requests_and_timeline_together(store: Any, launch: Launch) -> None:
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    request = _open_request(store, launch)
    approval = Approval(role="qa_lead", decision="approved", approver="q@a", decided_at=datetime.now(UTC))
    store.record_decision(launch.launch_id, approval, request.approval_id)
    stored, approvals, requests, timeline = store.launch_history(launch.launch_id)
    assert stored == store.get_launch(launch.launch_id)
    assert approvals == [approval]
    assert [r.state for r in requests] == ["approved"]
    assert timeline == store.timeline(launch.launch_id)
    with pytest.raises(LaunchNotFound):
        store.launch_history("local-nope-000000")


def test_a_transaction_cancelled_for_a_conflict_is_retried(aws: Any, store: Any, launch: Launch) -> None:
    from chalicelib.store import LaunchStore

    real = aws("dynamodb")

    class ConflictOnce:
        exceptions = real.exceptions
        conflicts = 1

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            if self.conflicts:
                self.conflicts -= 1
                raise real.exceptions.TransactionCanceledException(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                    },
                    "TransactWriteItems",
                )
            return real.transact_write_items(**kwargs)

    flaky = LaunchStore(ConflictOnce(), store._table)
    flaky.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    assert store.get_launch(launch.launch_id).status == LaunchStatus.PREFLIGHT


def test_the_timeline_is_in_the_order_written_whatever_the_clock_says(store: Any, clock: Any, launch: Launch) -> None:
    from datetime import timedelta

    later = clock.now() + timedelta(minutes=5)
    clock.set(later)
    store.append_event(launch.launch_id, "rolled_back", "frontend restored")
    clock.set(later - timedelta(minutes=10))  # a clock that stepped back, or another host's
    store.set_status(launch.launch_id, LaunchStatus.FAILED, also=[store.event("finished", "launch FAILED")])
    assert [event.kind for event in store.timeline(launch.launch_id)] == ["rolled_back", "status", "finished"]


def test_concurrent_writers_each_take_the_next_numbers_of_the_timeline(store: Any, launch: Launch) -> None:
    from tests.conftest import race

    outcomes = race([lambda i=i: store.append_event(launch.launch_id, "note", f"writer {i}") for i in range(6)])
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    timeline = store.timeline(launch.launch_id)
    assert sorted(event.message for event in timeline) == [f"writer {i}" for i in range(6)]
    assert store.get(Keys.launch(launch.launch_id))["timeline_seq"] == {"N": "6"}


def test_launches_written_before_the_lists_indexes_are_filled_into_the_environment_and_status_list(
    store: Any, launch: Launch
) -> None:
    from launchctl.build.deploy import fill_list_partitions

    made = _many(store, launch, 6)
    for record in made:  # as a launch written before the list's indexes: no environment_status
        store._db.update_item(
            TableName=store._table, Key=Keys.launch(record.launch_id), UpdateExpression="REMOVE environment_status"
        )
    wanted = [m.launch_id for m in made if m.request.environment == "staging" and m.status == LaunchStatus.FAILED]
    assert wanted
    assert store.list_launches(environment="staging", status=LaunchStatus.FAILED)[0] == []
    said: list[str] = []
    fill_list_partitions(store._db, store._table, said.append)
    listed = store.list_launches(environment="staging", status=LaunchStatus.FAILED)[0]
    assert [item.launch_id for item in listed] == wanted
    assert said == [f"{store._table}: {len(made)} earlier launches listed by environment and status"]
    assert store.fill_list_partitions() == 0  # again: nothing left to fill
