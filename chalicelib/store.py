"""DynamoDB access: launches, their timelines, approvals and the per-environment lock."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.models import (
    Approval,
    ApprovalRequest,
    Caller,
    Change,
    Launch,
    LaunchRequest,
    LaunchStatus,
    RollbackPoint,
    Stage,
    TimelineEvent,
    check_transition,
)

LIST_INDEX = "recent"


class LaunchNotFound(Exception):
    """No launch has that id."""


class EnvironmentLocked(Exception):
    """Another launch holds the environment."""

    def __init__(self, environment: str, holder: str, held_because: str = "") -> None:
        super().__init__(
            f"environment {environment!r} is locked by launch {holder}"
            + (
                f" ({held_because}); after fixing it by hand, run `launchctl unlock {environment}`"
                if held_because
                else ""
            )
        )
        self.environment = environment
        self.holder = holder
        self.held_because = held_because


class NotLocked(Exception):
    """The environment is not locked, or not by the launch named."""


class AlreadyDecided(Exception):
    """This role's approval was already given or refused, or its request closed."""


class PersonAlreadyCounted(Exception):
    """This person already decided for another role of the launch: one person, one role."""


class RollbackAlreadyClaimed(Exception):
    """Another requested rollback already claimed the launch."""


class LaunchHasEnded(Exception):
    """The launch has ended; nothing may be asked of it any more."""


class StatusConflict(Exception):
    """The launch moved on while we were writing; the write was not made."""


def now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def new_event(
    kind: str, message: str, stage: Stage | None = None, details: dict[str, Any] | None = None
) -> TimelineEvent:
    return TimelineEvent(at=now(), kind=kind, stage=stage, message=message, details=details or {})


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _launch_key(launch_id: str) -> dict[str, Any]:
    return {"pk": _s(f"LAUNCH#{launch_id}"), "sk": _s("LAUNCH")}


class LaunchStore:
    """One DynamoDB table, single-table layout; takes its client so tests can hand it moto's."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # -- launches --------------------------------------------------------------------------

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
        item = {
            **_launch_key(launch.launch_id),
            "gsi1pk": _s("LAUNCH"),
            "gsi1sk": _s(f"{_iso(launch.created_at)}#{launch.launch_id}"),
            "launch_id": _s(launch.launch_id),
            "environment": _s(launch.request.environment),
            "request": _s(launch.request.model_dump_json()),
            "requested_by": _s(launch.requested_by),
            **({"caller": _s(launch.caller.model_dump_json())} if launch.caller else {}),
            **({"requesters": {"SS": list(launch.requesters)}} if launch.requesters else {}),
            "status": _s(launch.status),
            "created_at": _s(_iso(launch.created_at)),
            "updated_at": _s(_iso(launch.updated_at)),
            "results": {"M": {stage: _s(json.dumps(value, default=str)) for stage, value in launch.results.items()}},
        }
        # A rollback execution starts with what the launch it undoes recorded.
        if launch.rollback_point is not None:
            item["rollback_point"] = _s(launch.rollback_point.model_dump_json())
        if launch.changes:
            item["changes"] = {"SS": [str(change) for change in launch.changes]}
        if launch.rollback_of is not None:
            item["rollback_of"] = _s(json.dumps(launch.rollback_of))
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
        ]
        writes += [
            {"Put": {"TableName": self._table, "Item": self._event_item(launch.launch_id, event)}}
            for event in events or []
        ]
        environment = launch.request.environment
        lock_at = claim_at = None
        if lock_lease_seconds is not None:
            lock_at = len(writes)
            writes.append({"Put": self._lock_put(environment, launch.launch_id, lock_lease_seconds)})
        if rollback_of is not None:
            target, event = rollback_of
            claim_at = len(writes)
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _launch_key(target),
                        "UpdateExpression": "SET rolled_back_by = :by",
                        "ConditionExpression": "attribute_not_exists(rolled_back_by) AND #status = :succeeded",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {
                            ":by": _s(launch.launch_id),
                            ":succeeded": _s(LaunchStatus.SUCCEEDED),
                        },
                    }
                }
            )
            writes.append({"Put": {"TableName": self._table, "Item": self._event_item(target, event)}})
        try:
            self._transact(writes)
        except self._db.exceptions.TransactionCanceledException as exc:
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            failed = {index for index, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if lock_at in failed:
                raise EnvironmentLocked(environment, self.lock_holder(environment) or "unknown") from None
            if claim_at in failed and rollback_of is not None:
                raise RollbackAlreadyClaimed(f"launch {rollback_of[0]} is already being rolled back") from None
            raise

    def get_launch(self, launch_id: str) -> Launch:
        item = self._db.get_item(TableName=self._table, Key=_launch_key(launch_id), ConsistentRead=True).get("Item")
        if not item:
            raise LaunchNotFound(launch_id)
        return _launch_from_item(item)

    def list_launches(
        self,
        limit: int = 20,
        environment: str | None = None,
        status: LaunchStatus | None = None,
        after: dict[str, Any] | None = None,
    ) -> tuple[list[Launch], dict[str, Any] | None]:
        """Newest first, optionally of one environment and status; (launches, key to continue after or None).

        The filter applies after DynamoDB reads a page, so pages are read until `limit` launches
        match or the index ends; the key returned is the last launch returned, so nothing is skipped."""
        filters, values, names = [], {":kind": _s("LAUNCH")}, {}
        if environment:
            filters.append("environment = :environment")
            values[":environment"] = _s(environment)
        if status:
            filters.append("#status = :status")
            values[":status"] = _s(status)
            names["#status"] = "status"
        found: list[dict[str, Any]] = []
        start = after
        more = True
        while len(found) < limit and more:
            query: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": LIST_INDEX,
                "KeyConditionExpression": "gsi1pk = :kind",
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": max(limit, 25),
            }
            if filters:
                query["FilterExpression"] = " AND ".join(filters)
            if names:
                query["ExpressionAttributeNames"] = names
            if start:
                query["ExclusiveStartKey"] = start
            response = self._db.query(**query)
            for item in response.get("Items", []):
                found.append(item)
                if len(found) == limit:
                    break
            start = response.get("LastEvaluatedKey")
            more = start is not None
        page = found[:limit]
        cursor = None
        if len(page) == limit:
            cursor = {name: page[-1][name] for name in ("pk", "sk", "gsi1pk", "gsi1sk")}
        return [_launch_from_item(item) for item in page], cursor

    def set_execution(self, launch_id: str, execution_arn: str) -> None:
        self._update(launch_id, "SET execution_arn = :arn", {":arn": _s(execution_arn)})

    def set_status(
        self,
        launch_id: str,
        status: LaunchStatus,
        stage: Stage | None = None,
        error: dict[str, str] | None = None,
        current: Launch | None = None,
        also: list[TimelineEvent] | None = None,
    ) -> Launch:
        """Move the launch to `status`, refusing transitions the lifecycle does not allow.

        The status and its timeline events (the change itself, and `also`) are written in one
        transaction: whoever reads the new status reads the events too.
        `current` is the launch as the caller just read it, saving a read; the conditional write
        still refuses the change if the status moved on meanwhile."""
        launch = current if current is not None else self.get_launch(launch_id)
        check_transition(launch.status, status)
        expression = "SET #status = :new, updated_at = :at"
        values: dict[str, Any] = {":new": _s(status), ":old": _s(launch.status), ":at": _s(_iso(now()))}
        if stage is not None:
            expression += ", stage = :stage"
            values[":stage"] = _s(stage)
        if error is not None:
            expression += ", #error = :error"
            values[":error"] = _s(json.dumps(error))
        events: list[TimelineEvent] = []
        if launch.status != status:
            events.append(new_event("status", f"status {launch.status} -> {status}", stage))
        elif stage is not None and stage != launch.stage:
            events.append(new_event("stage", f"{stage} started", stage))
        events.extend(event.model_copy(update={"at": now()}) for event in also or [])  # after the change
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _launch_key(launch_id),
                "UpdateExpression": expression,
                "ConditionExpression": "#status = :old",
                "ExpressionAttributeNames": {"#status": "status", **({"#error": "error"} if error is not None else {})},
                "ExpressionAttributeValues": values,
            }
        }
        puts = [{"Put": {"TableName": self._table, "Item": self._event_item(launch_id, event)}} for event in events]
        try:
            self._transact([update, *puts])
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise StatusConflict(f"launch {launch_id} changed status while {status} was being written") from exc
            raise
        return launch.model_copy(update={"status": status, "stage": stage or launch.stage})

    def record_result(self, launch_id: str, stage: Stage, result: dict[str, Any]) -> None:
        self._update(
            launch_id,
            "SET results.#stage = :result",
            {":result": _s(json.dumps(result, default=str))},
            names={"#stage": str(stage)},
        )

    def record_rollback_point(self, launch_id: str, point: RollbackPoint) -> bool:
        """Store the rollback point once; False when one was already recorded (a retried step)."""
        try:
            self._update(
                launch_id,
                "SET rollback_point = :point",
                {":point": _s(point.model_dump_json())},
                condition="attribute_not_exists(rollback_point)",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_change(self, launch_id: str, change: Change) -> None:
        """Note, before touching it, that this launch changes a part of the environment."""
        self._update(launch_id, "ADD changes :change", {":change": {"SS": [str(change)]}})

    def _update(
        self,
        launch_id: str,
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        condition: str | None = None,
    ) -> None:
        values = {**values, ":at": _s(_iso(now()))}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": _launch_key(launch_id),
            "UpdateExpression": expression
            + (", updated_at = :at" if expression.startswith("SET") else " SET updated_at = :at"),
            "ExpressionAttributeValues": values,
            "ConditionExpression": "attribute_exists(pk)" + (f" AND {condition}" if condition else ""),
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._db.update_item(**kwargs)
        except self._db.exceptions.ConditionalCheckFailedException:
            if condition is None:
                raise LaunchNotFound(launch_id) from None
            raise

    def request_abort(self, launch_id: str, abort: dict[str, Any], event: TimelineEvent) -> dict[str, Any] | None:
        """Record the first abort request of a running launch, with its timeline event, in one write.

        None when this request was the first; the first request when an abort was asked for already (and
        nothing is written); LaunchHasEnded when the launch had ended."""
        ended = [status for status in LaunchStatus if status.is_final]
        names = {f":end{i}": _s(status) for i, status in enumerate(ended)}
        running = f"attribute_not_exists(#abort) AND NOT #status IN ({', '.join(names)})"
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _launch_key(launch_id),
                            "UpdateExpression": "SET #abort = :abort",
                            "ConditionExpression": running,
                            "ExpressionAttributeNames": {"#status": "status", "#abort": "abort"},
                            "ExpressionAttributeValues": {":abort": _s(json.dumps(abort)), **names},
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": self._event_item(launch_id, event)}},
                ]
            )
        except self._db.exceptions.TransactionCanceledException as exc:
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            if not codes or codes[0] != "ConditionalCheckFailed":
                raise
            launch = self.get_launch(launch_id)
            if launch.status.is_final or launch.abort is None:
                raise LaunchHasEnded(f"launch {launch_id} has already ended ({launch.status})") from None
            return launch.abort
        return None

    def _transact(self, items: list[dict[str, Any]], attempts: int = 5) -> None:
        """TransactWriteItems, retried while DynamoDB cancels it for a conflict with a concurrent
        transaction on the same items (botocore does not retry those); a failed condition is not retried."""
        for attempt in range(attempts):
            try:
                self._db.transact_write_items(TransactItems=items)
                return
            except self._db.exceptions.TransactionCanceledException as exc:
                codes = {reason.get("Code") for reason in exc.response.get("CancellationReasons", [])}
                if "TransactionConflict" not in codes or "ConditionalCheckFailed" in codes or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * 2**attempt * (1 + random.random()))  # noqa: S311 - jitter, not security

    # -- timeline ----------------------------------------------------------------------------

    def append_event(
        self,
        launch_id: str,
        kind: str,
        message: str,
        stage: Stage | None = None,
        details: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        event = new_event(kind, message, stage, details)
        self._db.put_item(TableName=self._table, Item=self._event_item(launch_id, event))
        return event

    @staticmethod
    def _event_item(launch_id: str, event: TimelineEvent) -> dict[str, Any]:
        return {
            "pk": _s(f"LAUNCH#{launch_id}"),
            "sk": _s(f"EVENT#{_iso(event.at)}#{uuid.uuid4().hex[:8]}"),
            "event": _s(event.model_dump_json()),
        }

    def timeline(self, launch_id: str) -> list[TimelineEvent]:
        return [
            TimelineEvent.model_validate_json(item["event"]["S"]) for item in self._query_prefix(launch_id, "EVENT#")
        ]

    def launch_history(
        self, launch_id: str
    ) -> tuple[Launch, list[Approval], list[ApprovalRequest], list[TimelineEvent]]:
        """The launch, its decisions, its approval requests and its timeline in one query of its partition."""
        items = self._query_prefix(launch_id, "")
        record = next((item for item in items if item["sk"]["S"] == "LAUNCH"), None)
        if record is None:
            raise LaunchNotFound(launch_id)
        return (
            _launch_from_item(record),
            [Approval.model_validate_json(i["approval"]["S"]) for i in items if i["sk"]["S"].startswith("APPROVAL#")],
            [_request_from_item(i) for i in items if i["sk"]["S"].startswith("REQUEST#")],
            [TimelineEvent.model_validate_json(i["event"]["S"]) for i in items if i["sk"]["S"].startswith("EVENT#")],
        )

    def _query_prefix(self, launch_id: str, prefix: str) -> list[dict[str, Any]]:
        """Every item of the launch's partition whose sort key starts with `prefix` ("" for all)."""
        items: list[dict[str, Any]] = []
        values = {":pk": _s(f"LAUNCH#{launch_id}")} | ({":prefix": _s(prefix)} if prefix else {})
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else ""),
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- environment lock ----------------------------------------------------------------------

    def _lock_put(self, environment: str, launch_id: str, lease_seconds: int) -> dict[str, Any]:
        """The conditional write that takes the environment: free, ours already, or its lease ran out.

        The lease is checked in the condition because TTL deletes expired items late."""
        moment = now()
        expires = moment + timedelta(seconds=lease_seconds)
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(f"LOCK#{environment}"),
                "sk": _s("LOCK"),
                "owner": _s(launch_id),
                "acquired_at": _s(_iso(moment)),
                "lease_expires_at": _s(_iso(expires)),
                "expires_at_epoch": {"N": str(int(expires.timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR #owner = :me OR lease_expires_at < :now",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": _s(launch_id), ":now": _s(_iso(moment))},
        }

    def acquire_lock(self, environment: str, launch_id: str, lease_seconds: int) -> None:
        """Take the environment for this launch; re-taking our own lock is a no-op renewal."""
        try:
            self._db.put_item(**self._lock_put(environment, launch_id, lease_seconds))
        except self._db.exceptions.ConditionalCheckFailedException:
            raise EnvironmentLocked(environment, self.lock_holder(environment) or "unknown") from None

    def release_lock(self, environment: str, launch_id: str) -> bool:
        """Release the lock if this launch holds it; False when it did not."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"pk": _s(f"LOCK#{environment}"), "sk": _s("LOCK")},
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": _s(launch_id)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def hold_lock(self, environment: str, launch_id: str, reason: str) -> bool:
        """Keep this launch's lock with no lease, until a person unlocks it; False if it held none."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": _s(f"LOCK#{environment}"), "sk": _s("LOCK")},
                UpdateExpression="SET lease_expires_at = :never, held_because = :reason REMOVE expires_at_epoch",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":me": _s(launch_id),
                    ":never": _s("9999-12-31T23:59:59+00:00"),
                    ":reason": _s(reason),
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def lock(self, environment: str) -> dict[str, str] | None:
        """The environment's lock as stored (owner, acquired_at, lease_expires_at, held_because), if any."""
        item = self._db.get_item(
            TableName=self._table, Key={"pk": _s(f"LOCK#{environment}"), "sk": _s("LOCK")}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return {name: value["S"] for name, value in item.items() if "S" in value and name not in {"pk", "sk"}}

    def lock_holder(self, environment: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": _s(f"LOCK#{environment}"), "sk": _s("LOCK")}, ConsistentRead=True
        ).get("Item")
        if not item or item["lease_expires_at"]["S"] < _iso(now()):
            return None
        return item["owner"]["S"]

    # -- approvals -------------------------------------------------------------------------------

    def open_approval_gate(
        self,
        launch_id: str,
        task_token: str,
        requests: list[ApprovalRequest],
        expires_at: datetime,
        existing: list[ApprovalRequest] | None = None,
    ) -> list[ApprovalRequest]:
        """Keep the execution's task token server-side and store one request per role, with its link id.

        A retried step (a new task token) keeps the requests already stored (`existing`, read here
        when the caller has not), so links already emailed stay valid; it returns the requests in force."""
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": _s(f"LAUNCH#{launch_id}"),
                "sk": _s("GATE"),
                "task_token": _s(task_token),
                "roles": {"L": [_s(request.role) for request in requests]},
                "expires_at": _s(_iso(expires_at)),
            },
        )
        stored = existing if existing is not None else self.approval_requests(launch_id)
        in_force = {request.role: request for request in stored}
        for request in requests:
            if request.role in in_force:
                continue
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(f"LAUNCH#{launch_id}"),
                                "sk": _s(f"REQUEST#{request.role}"),
                                "request": _s(request.model_dump_json()),
                                "approval_id": _s(request.approval_id),
                                "state": _s("open"),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(f"APPROVAL_ID#{request.approval_id}"),
                                "sk": _s("REQUEST"),
                                "launch_id": _s(launch_id),
                                "role": _s(request.role),
                            },
                        }
                    },
                ]
            )
            in_force[request.role] = request
        return [in_force[request.role] for request in requests]

    def approval_gate(self, launch_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": _s(f"LAUNCH#{launch_id}"), "sk": _s("GATE")}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return {
            "task_token": item["task_token"]["S"],
            "roles": [role["S"] for role in item["roles"]["L"]],
            "expires_at": datetime.fromisoformat(item["expires_at"]["S"]),
        }

    def approval_requests(self, launch_id: str) -> list[ApprovalRequest]:
        return [_request_from_item(item) for item in self._query_prefix(launch_id, "REQUEST#")]

    def approval_request(self, approval_id: str) -> ApprovalRequest | None:
        """The request a link names; None for an id nobody issued."""
        pointer = self._db.get_item(
            TableName=self._table,
            Key={"pk": _s(f"APPROVAL_ID#{approval_id}"), "sk": _s("REQUEST")},
            ConsistentRead=True,
        ).get("Item")
        if not pointer:
            return None
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": _s(f"LAUNCH#{pointer['launch_id']['S']}"), "sk": _s(f"REQUEST#{pointer['role']['S']}")},
            ConsistentRead=True,
        ).get("Item")
        if not item or item["approval_id"]["S"] != approval_id:
            return None
        return _request_from_item(item)

    def mark_emailed(self, launch_id: str, role: str, approver: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"pk": _s(f"LAUNCH#{launch_id}"), "sk": _s(f"REQUEST#{role}")},
            UpdateExpression="ADD emailed :who",
            ExpressionAttributeValues={":who": {"SS": [approver]}},
        )

    def record_decision(self, launch_id: str, approval: Approval, approval_id: str) -> None:
        """Write a role's decision once, and each person's once, in one transaction.

        Two concurrent clicks cannot both count: the request must still be open, the role
        undecided and the person not yet counted for another role."""
        state = "approved" if approval.decision == "approved" else "rejected"
        person = approval.approver.lower()
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": _s(f"LAUNCH#{launch_id}"), "sk": _s(f"REQUEST#{approval.role}")},
                            "UpdateExpression": "SET #state = :state, decided_by = :who, decided_at = :at",
                            "ConditionExpression": "#state = :open AND approval_id = :id",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {
                                ":state": _s(state),
                                ":who": _s(person),
                                ":at": _s(_iso(approval.decided_at)),
                                ":open": _s("open"),
                                ":id": _s(approval_id),
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(f"LAUNCH#{launch_id}"),
                                "sk": _s(f"APPROVAL#{approval.role}"),
                                "approval": _s(approval.model_dump_json()),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(f"LAUNCH#{launch_id}"),
                                "sk": _s(f"DECIDER#{person}"),
                                "role": _s(approval.role),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except self._db.exceptions.TransactionCanceledException as exc:
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in codes[:2]:
                raise AlreadyDecided(f"the {approval.role} request of launch {launch_id} is no longer open") from None
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                raise PersonAlreadyCounted(f"{person} has already decided on launch {launch_id}") from None
            raise

    def close_open_requests(self, launch_id: str, state: str, because: str) -> list[str]:
        """Close every request still open (after a rejection or expiry); the roles closed."""
        closed = []
        for request in self.approval_requests(launch_id):
            if request.state != "open":
                continue
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": _s(f"LAUNCH#{launch_id}"), "sk": _s(f"REQUEST#{request.role}")},
                    UpdateExpression="SET #state = :state, closed_because = :because",
                    ConditionExpression="#state = :open",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":state": _s(state), ":because": _s(because), ":open": _s("open")},
                )
            except self._db.exceptions.ConditionalCheckFailedException:
                continue  # decided meanwhile
            closed.append(request.role)
        return closed

    def approvals(self, launch_id: str) -> list[Approval]:
        return [
            Approval.model_validate_json(item["approval"]["S"]) for item in self._query_prefix(launch_id, "APPROVAL#")
        ]


def _request_from_item(item: dict[str, Any]) -> ApprovalRequest:
    request = ApprovalRequest.model_validate_json(item["request"]["S"])
    return request.model_copy(
        update={
            "state": item["state"]["S"],
            "decided_by": item.get("decided_by", {}).get("S"),
            "decided_at": datetime.fromisoformat(item["decided_at"]["S"]) if "decided_at" in item else None,
            "closed_because": item.get("closed_because", {}).get("S"),
            "emailed": sorted(item.get("emailed", {}).get("SS", [])),
        }
    )


def _launch_from_item(item: dict[str, Any]) -> Launch:
    return Launch(
        launch_id=item["launch_id"]["S"],
        request=LaunchRequest.model_validate_json(item["request"]["S"]),
        requested_by=item.get("requested_by", {}).get("S", "unknown"),
        requesters=sorted(item.get("requesters", {}).get("SS", [])),
        caller=Caller.model_validate_json(item["caller"]["S"]) if "caller" in item else None,
        status=LaunchStatus(item["status"]["S"]),
        stage=Stage(item["stage"]["S"]) if "stage" in item else None,
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        execution_arn=item.get("execution_arn", {}).get("S"),
        rollback_point=RollbackPoint.model_validate_json(item["rollback_point"]["S"])
        if "rollback_point" in item
        else None,
        changes=sorted(Change(value) for value in item.get("changes", {}).get("SS", [])),
        results={stage: json.loads(value["S"]) for stage, value in item.get("results", {}).get("M", {}).items()},
        error=json.loads(item["error"]["S"]) if "error" in item else None,
        abort=json.loads(item["abort"]["S"]) if "abort" in item else None,
        rollback_of=json.loads(item["rollback_of"]["S"]) if "rollback_of" in item else None,
        rolled_back_by=item.get("rolled_back_by", {}).get("S"),
    )


def table_definition(table_name: str) -> dict[str, Any]:
    """The table's shape, shared by the deploy template's generator check and the local stack."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": LIST_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
