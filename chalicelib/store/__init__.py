"""DynamoDB access: launches and their timelines, the environment locks and the approvals, in one table.

`LaunchStore` is the one façade callers use; each kind of record lives in its own module."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.clock import iso
from chalicelib.domain.evidence_chain import GENESIS, ChainedEvent
from chalicelib.domain.models import Approval, ApprovalRequest, Launch, LaunchStatus, TimelineEvent
from chalicelib.store.approval_records import (
    AlreadyDecided,
    ApprovalGate,
    ApprovalRecords,
    PersonAlreadyCounted,
    approval_from_item,
    request_from_item,
)
from chalicelib.store.dynamodb import (
    APPROVAL_PREFIX,
    EVENT_PREFIX,
    LAUNCH_LIST,
    LIST_INDEX,
    REQUEST_PREFIX,
    Keys,
    cancellation_codes,
    environment_status,
    n,
    s,
    table_definition,
)
from chalicelib.store.launch_records import (
    SEQUENCE_ATTEMPTS,
    LaunchHasEnded,
    LaunchNotFound,
    LaunchRecords,
    RollbackAlreadyClaimed,
    StatusConflict,
    TimelineBusy,
    chained_puts,
    head_of,
    launch_from_item,
    results_attribute,
    sequence_of,
)
from chalicelib.store.locks import EnvironmentLocked, EnvironmentLocks, Lock, NotLocked
from chalicelib.store.wait_records import Wait, WaitKind, WaitRecords

__all__ = [
    "LIST_INDEX",
    "AlreadyDecided",
    "ApprovalGate",
    "EnvironmentLocked",
    "LaunchHasEnded",
    "LaunchNotFound",
    "LaunchStore",
    "Lock",
    "NotLocked",
    "PersonAlreadyCounted",
    "RollbackAlreadyClaimed",
    "StatusConflict",
    "TimelineBusy",
    "Wait",
    "WaitKind",
    "table_definition",
]


class LaunchStore(LaunchRecords, EnvironmentLocks, ApprovalRecords, WaitRecords):
    """One DynamoDB table, single-table layout; takes its client and clock so tests hand it moto's and theirs."""

    def create_launch(
        self,
        launch: Launch,
        events: list[TimelineEvent] | None = None,
        lock_lease_seconds: int | None = None,
        rollback_of: tuple[str, TimelineEvent] | None = None,
    ) -> None:
        """Store a new launch with its first events, in one transaction with what it must hold.

        With `lock_lease_seconds` the launch takes its environment's lock in the same write, so a start
        that loses the race for the lock leaves nothing behind (EnvironmentLocked). With `rollback_of`
        (a succeeded launch's id and the event for its timeline) it also claims that launch for this
        rollback, once (RollbackAlreadyClaimed)."""
        events = events or []
        item = {
            **Keys.launch(launch.launch_id),
            "gsi1pk": s(LAUNCH_LIST),
            "gsi1sk": s(f"{iso(launch.created_at)}#{launch.launch_id}"),
            "launch_id": s(launch.launch_id),
            "environment": s(launch.request.environment),
            "request": s(launch.request.model_dump_json()),
            "requested_by": s(launch.requested_by),
            **({"caller": s(launch.caller.model_dump_json())} if launch.caller else {}),
            **({"requesters": {"SS": list(launch.requesters)}} if launch.requesters else {}),
            "status": s(launch.status),
            "environment_status": s(environment_status(launch.request.environment, launch.status)),
            "created_at": s(iso(launch.created_at)),
            "updated_at": s(iso(launch.updated_at)),
            "results": {"M": results_attribute(launch.results)},
        }
        puts, head = chained_puts(launch.launch_id, 0, GENESIS, events)
        if events:
            item |= {"timeline_seq": n(len(events)), "timeline_head": s(head)}
        # A rollback execution starts with what the launch it undoes recorded.
        if launch.rollback_point is not None:
            item["rollback_point"] = s(launch.rollback_point.model_dump_json())
        if launch.changes:
            item["changes"] = {"SS": [str(change) for change in launch.changes]}
        if launch.migration_task_arn:
            item["migration_task_arn"] = s(launch.migration_task_arn)
        if launch.rollback_of is not None:
            item["rollback_of"] = s(json.dumps(launch.rollback_of))
        if launch.profile is not None:
            item["profile"] = s(launch.profile.model_dump_json())
        if launch.profile_version is not None:
            item["profile_version"] = {"N": str(launch.profile_version)}
        writes: list[dict[str, Any]] = [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}]
        writes += puts
        environment = launch.request.environment
        lock_at = claim_at = None
        if lock_lease_seconds is not None:
            lock_at = len(writes)
            writes.append({"Put": self.lock_put(environment, launch.launch_id, lock_lease_seconds)})
        for _ in range(SEQUENCE_ATTEMPTS):
            claim: list[dict[str, Any]] = []
            if rollback_of is not None:
                target, event = rollback_of
                claim_at = len(writes)
                current = self.get(Keys.launch(target))
                if current is None:
                    raise LaunchNotFound(target)
                sequence = sequence_of(current)
                claimed_puts, claimed_head = chained_puts(target, sequence, head_of(current), [event])
                claim = [
                    {
                        "Update": {
                            "Key": Keys.launch(target),
                            "UpdateExpression": "SET rolled_back_by = :by, "
                            "timeline_seq = :next_seq, timeline_head = :head",
                            "ConditionExpression": "attribute_not_exists(rolled_back_by) AND #status = :succeeded"
                            + (" AND timeline_seq = :seq" if sequence else " AND attribute_not_exists(timeline_seq)"),
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":by": s(launch.launch_id),
                                ":succeeded": s(LaunchStatus.SUCCEEDED),
                                ":next_seq": n(sequence + 1),
                                ":head": s(claimed_head),
                                **({":seq": n(sequence)} if sequence else {}),
                            },
                        }
                    },
                    *claimed_puts,
                ]
            try:
                self.transact([*writes, *claim])
                return
            except self._db.exceptions.TransactionCanceledException as exc:
                failed = {i for i, code in enumerate(cancellation_codes(exc)) if code == "ConditionalCheckFailed"}
                if lock_at in failed:
                    raise EnvironmentLocked(environment, self.lock_holder(environment) or "unknown") from None
                if claim_at in failed and rollback_of is not None:
                    now_item = self.get(Keys.launch(rollback_of[0])) or {}
                    claimed = "rolled_back_by" in now_item or now_item.get("status", {}).get("S") != "SUCCEEDED"
                    if claimed:
                        raise RollbackAlreadyClaimed(f"launch {rollback_of[0]} is already being rolled back") from None
                    continue  # its timeline moved on meanwhile: claim the next number
                raise
        raise TimelineBusy(f"the timeline of launch {rollback_of[0] if rollback_of else launch.launch_id} kept moving")

    def launch_history(
        self, launch_id: str
    ) -> tuple[Launch, list[Approval], list[ApprovalRequest], list[TimelineEvent]]:
        """The launch, its decisions, its approval requests and its timeline in one query of its partition."""
        items = self.query_partition(Keys.launch_partition(launch_id))
        record = next((item for item in items if item["sk"]["S"] == "LAUNCH"), None)
        if record is None:
            raise LaunchNotFound(launch_id)
        return (
            launch_from_item(record),
            [approval_from_item(i) for i in items if i["sk"]["S"].startswith(APPROVAL_PREFIX)],
            [request_from_item(i) for i in items if i["sk"]["S"].startswith(REQUEST_PREFIX)],
            [
                TimelineEvent.model_validate_json(i["event"]["S"])
                for i in items
                if i["sk"]["S"].startswith(EVENT_PREFIX)
            ],
        )

    def evidence_parts(
        self, launch_id: str
    ) -> tuple[Launch, list[Approval], list[ApprovalRequest], list[ChainedEvent], dict[str, Any]]:
        """What a launch's evidence is made of, in one query of its partition: the record, its decisions and
        requests, its timeline as stored (each event's digest and the one it follows), and the record's head."""
        items = self.query_partition(Keys.launch_partition(launch_id))
        record = next((item for item in items if item["sk"]["S"] == "LAUNCH"), None)
        if record is None:
            raise LaunchNotFound(launch_id)
        chain = [
            ChainedEvent(
                sequence=int(i["sk"]["S"].removeprefix(EVENT_PREFIX)),
                event=json.loads(i["event"]["S"]),
                previous=i.get("previous", {}).get("S"),
                digest=i.get("digest", {}).get("S"),
            )
            for i in items
            if _is_event(i)
        ]
        head = {"sequence": sequence_of(record), "digest": record.get("timeline_head", {}).get("S")}
        return (
            launch_from_item(record),
            [approval_from_item(i) for i in items if i["sk"]["S"].startswith(APPROVAL_PREFIX)],
            [request_from_item(i) for i in items if i["sk"]["S"].startswith(REQUEST_PREFIX)],
            chain,
            head,
        )


def _is_event(item: dict[str, Any]) -> bool:
    return str(item["sk"]["S"]).startswith(EVENT_PREFIX)
