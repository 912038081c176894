"""The launch record and its timeline; every event takes the next number of its launch's sequence."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.artifacts import ReleaseArtifacts
from chalicelib.domain.clock import iso
from chalicelib.domain.evidence_chain import GENESIS, Seal, event_digest
from chalicelib.domain.models import (
    Caller,
    Change,
    EmergencyLaunch,
    Launch,
    LaunchRequest,
    LaunchStatus,
    ListedLaunch,
    RollbackPoint,
    Stage,
    TimelineEvent,
    check_transition,
)
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import LaunchResults
from chalicelib.store.dynamodb import (
    EVENT_PREFIX,
    LAUNCH_LIST,
    LIST_INDEX,
    LIST_INDEXES,
    Keys,
    Table,
    cancellation_codes,
    environment_status,
    n,
    s,
)

# How often a write retries when another writer took the launch's next timeline numbers first.
SEQUENCE_ATTEMPTS = 25


class LaunchNotFound(Exception):
    """No launch has that id."""


class RollbackAlreadyClaimed(Exception):
    """Another requested rollback already claimed the launch."""


class LaunchHasEnded(Exception):
    """The launch has ended; nothing may be asked of it any more."""


class StatusConflict(Exception):
    """The launch moved on while we were writing; the write was not made."""


class TimelineBusy(Exception):
    """Other writers kept taking the launch's next timeline numbers; nothing was written."""


class Refused(Exception):
    """A write's own condition failed (not the timeline's sequence): the record as it stands."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__("the write's condition failed")
        self.item = item


def sequence_of(item: dict[str, Any]) -> int:
    return int(item.get("timeline_seq", {}).get("N", "0"))


def head_of(item: dict[str, Any]) -> str:
    """The digest of the launch's last event (the chain's start for a launch with none, or written unchained)."""
    return str(item.get("timeline_head", {}).get("S", GENESIS))


def chained_puts(
    launch_id: str, sequence: int, head: str, events: list[TimelineEvent]
) -> tuple[list[dict[str, Any]], str]:
    """The writes of `events` after event `sequence` whose digest is `head`, each chained to the one before;
    the new head. Each carries its digest and the one it follows, so the chain is checked from the items."""
    puts = []
    for number, event in enumerate(events, start=sequence + 1):
        content = event.model_dump_json()
        digest = event_digest(launch_id, number, head, json.loads(content))
        item = {**Keys.event(launch_id, number), "event": s(content), "previous": s(head), "digest": s(digest)}
        puts.append({"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}})
        head = digest
    return puts, head


class LaunchRecords(Table):
    """Launch records and their timelines."""

    def event(
        self, kind: str, message: str, stage: Stage | None = None, details: dict[str, Any] | None = None
    ) -> TimelineEvent:
        """A timeline event stamped now, not yet written."""
        return TimelineEvent(at=self.clock.now(), kind=kind, stage=stage, message=message, details=details or {})

    # -- writing with events -------------------------------------------------------------------

    def commit(
        self,
        launch_id: str,
        events: list[TimelineEvent],
        sets: list[str] | None = None,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
        condition: str | None = None,
    ) -> int:
        """Update the launch record and append `events` to its timeline in one transaction; the new sequence.

        Each event takes the next number of the launch's sequence, written in the same transaction
        with a condition on the number it follows: the timeline's order is total and is the order
        the writes happened in. Each also carries its digest, chained to the one before (the record keeps the
        last as `timeline_head`, under the same condition). When another writer took those numbers first, it
        re-reads and retries; when `condition` fails, it raises Refused with the record as it stands."""
        key = Keys.launch(launch_id)
        sequence, head = 0, GENESIS
        if events:
            item = self.get(key)
            if item is None:
                raise LaunchNotFound(launch_id)
            sequence, head = sequence_of(item), head_of(item)
        for _ in range(SEQUENCE_ATTEMPTS):
            clauses = list(sets or [])
            puts, new_head = chained_puts(launch_id, sequence, head, events)
            attribute_values = dict(values or {})
            conditions = ["attribute_exists(pk)"]
            if events:
                clauses += ["timeline_seq = :next_seq", "timeline_head = :head"]
                attribute_values |= {":next_seq": n(sequence + len(events)), ":head": s(new_head)}
                if sequence:
                    conditions.append("timeline_seq = :seq")
                    attribute_values[":seq"] = n(sequence)
                else:
                    conditions.append("attribute_not_exists(timeline_seq)")
            if condition:
                conditions.append(f"({condition})")
            update: dict[str, Any] = {
                "Key": key,
                "UpdateExpression": "SET " + ", ".join(clauses),
                "ConditionExpression": " AND ".join(conditions),
            }
            if attribute_values:
                update["ExpressionAttributeValues"] = attribute_values
            if names:
                update["ExpressionAttributeNames"] = names
            try:
                self.transact([{"Update": update}, *puts])
                return sequence + len(events)
            except self._db.exceptions.TransactionCanceledException as exc:
                codes = cancellation_codes(exc)
                if "ConditionalCheckFailed" not in codes:
                    raise
                item = self.get(key)
                if item is None:
                    raise LaunchNotFound(launch_id) from None
                if events and sequence_of(item) != sequence:
                    # another writer appended meanwhile: take the next numbers, after its events
                    sequence, head = sequence_of(item), head_of(item)
                    continue
                raise Refused(item) from None
        raise TimelineBusy(f"the timeline of launch {launch_id} kept moving; nothing was written")

    def append_event(
        self,
        launch_id: str,
        kind: str,
        message: str,
        stage: Stage | None = None,
        details: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        event = self.event(kind, message, stage, details)
        self.append_events(launch_id, [event])
        return event

    def append_events(self, launch_id: str, events: list[TimelineEvent]) -> None:
        if events:
            self.commit(launch_id, events)

    # -- launches --------------------------------------------------------------------------

    def get_launch(self, launch_id: str) -> Launch:
        item = self.get(Keys.launch(launch_id))
        if not item:
            raise LaunchNotFound(launch_id)
        return launch_from_item(item)

    def live_launch(self, environment: str) -> ListedLaunch | None:
        """The launch whose release the environment serves: its newest that succeeded and was not rolled back
        (a rollback is a launch of its own, so one or two rolled-back ones may come first)."""
        found, _ = self.list_launches(limit=10, environment=environment, status=LaunchStatus.SUCCEEDED)
        return next((launch for launch in found if not launch.rolled_back_by), None)

    def causes(self, launch_ids: list[str]) -> dict[str, dict[str, str]]:
        """Why each of these launches ended (its `error`), for those that ended with one: one BatchGetItem per
        hundred, reading that attribute only (the list's indexes do not project it)."""
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(launch_ids), 100):
            keys = [Keys.launch(launch_id) for launch_id in launch_ids[start : start + 100]]
            asked: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "launch_id, #error",
                    "ExpressionAttributeNames": {"#error": "error"},
                }
            }
            while asked:
                answer = self._db.batch_get_item(RequestItems=asked)
                for item in answer.get("Responses", {}).get(self._table, []):
                    if "error" in item:
                        found[item["launch_id"]["S"]] = json.loads(item["error"]["S"])
                asked = answer.get("UnprocessedKeys") or {}
        return found

    def list_launches(
        self,
        limit: int = 20,
        environment: str | None = None,
        status: LaunchStatus | None = None,
        after: dict[str, Any] | None = None,
    ) -> tuple[list[ListedLaunch], dict[str, Any] | None]:
        """Newest first, optionally of one environment and status; (launches, key to continue after or None).

        Each filter has its own index, so one query reads exactly the launches it answers (`limit` at
        most) and nothing is filtered after reading; `after` is a position in time (pk, sk, gsi1sk)."""
        index, partition = LIST_INDEXES[(environment is not None, status is not None)]
        if environment is not None and status is not None:
            value = environment_status(environment, status)
        else:
            value = environment or status or LAUNCH_LIST
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#partition = :partition",
            "ExpressionAttributeNames": {"#partition": partition},
            "ExpressionAttributeValues": {":partition": s(str(value))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            query["ExclusiveStartKey"] = {name: after[name] for name in ("pk", "sk", "gsi1sk")} | {
                partition: s(str(value))
            }
        response = self._db.query(**query)
        page = response.get("Items", [])
        cursor = None
        if "LastEvaluatedKey" in response and len(page) == limit:
            cursor = {name: page[-1][name] for name in ("pk", "sk", "gsi1pk", "gsi1sk") if name in page[-1]}
            cursor.setdefault("gsi1pk", s(LAUNCH_LIST))
        return [listed_from_item(item) for item in page], cursor

    def fill_list_partitions(self) -> int:
        """Give each launch written before the list's indexes its environment-and-status partition (the other
        indexes use attributes every launch has); how many were filled. Safe to run again, and beside
        running launches: a launch whose status moved meanwhile got its partition from that write."""
        filled = 0
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "gsi1pk = :kind",
            "FilterExpression": "attribute_not_exists(environment_status)",
            "ProjectionExpression": "pk, sk, environment, #status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":kind": s(LAUNCH_LIST)},
        }
        for page in self._db.get_paginator("query").paginate(**query):
            for item in page.get("Items", []):
                try:
                    self._db.update_item(
                        TableName=self._table,
                        Key={"pk": item["pk"], "sk": item["sk"]},
                        UpdateExpression="SET environment_status = :listed",
                        ConditionExpression="attribute_not_exists(environment_status) AND #status = :status",
                        ExpressionAttributeNames={"#status": "status"},
                        ExpressionAttributeValues={
                            ":listed": s(environment_status(item["environment"]["S"], item["status"]["S"])),
                            ":status": item["status"],
                        },
                    )
                    filled += 1
                except self._db.exceptions.ConditionalCheckFailedException:
                    continue
        return filled

    def running_since(self, since: datetime) -> list[Launch]:
        """The launches created at `since` or later that have not ended, newest first (the list index's
        range: a query bounded by time, not a scan of the table)."""
        values: dict[str, Any] = {":kind": s(LAUNCH_LIST), ":since": s(iso(since))}
        ended = sorted(status.value for status in LaunchStatus if status.is_final)
        values |= {f":ended{i}": s(status) for i, status in enumerate(ended)}
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "gsi1pk = :kind AND gsi1sk >= :since",
            "FilterExpression": f"NOT #status IN ({', '.join(f':ended{i}' for i in range(len(ended)))})",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        pages = self._db.get_paginator("query").paginate(**query)
        return [launch_from_item(item) for page in pages for item in page.get("Items", [])]

    def set_execution(self, launch_id: str, execution_arn: str) -> None:
        self._update(launch_id, "SET execution_arn = :arn", {":arn": s(execution_arn)})

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
        return self.write_progress(launch, status=status, stage=stage, error=error, events=also or [])

    def write_progress(
        self,
        launch: Launch,
        stage: Stage | None = None,
        progress: BaseModel | None = None,
        kept_under: Stage | None = None,
        events: list[TimelineEvent] | None = None,
        status: LaunchStatus | None = None,
        error: dict[str, str] | None = None,
        status_last: bool = False,
        unchanged: bool = False,
    ) -> Launch:
        """One write for a step: its progress (kept under its stage), its status (and the stage it is in)
        when that changes, and its events.

        A status change is refused unless the lifecycle allows it and the launch is still in the status
        it was read in (StatusConflict); its own timeline event comes before `events`, or after them with
        `status_last` (a step that changes the status once its work is done). With `unchanged`, the write is
        also refused (StatusConflict) if anything wrote the launch since `launch` was read: a writer racing
        others (events arriving together) reads again and decides again rather than overwrite."""
        sets = ["updated_at = :at"]
        values: dict[str, Any] = {":at": s(iso(self.clock.now()))}
        names: dict[str, str] = {}
        condition = None
        written: list[TimelineEvent] = []
        if status is not None:
            check_transition(launch.status, status)
            sets += ["#status = :new", "environment_status = :listed"]
            names["#status"] = "status"
            values |= {
                ":new": s(status),
                ":old": s(launch.status),
                ":listed": s(environment_status(launch.request.environment, status)),
            }
            condition = "#status = :old"
            if launch.status != status:
                written.append(self.event("status", f"status {launch.status} -> {status}", stage))
            elif stage is not None and stage != launch.stage:
                written.append(self.event("stage", f"{stage} started", stage))
            if stage is not None:
                sets.append("stage = :stage")
                values[":stage"] = s(stage)
        if unchanged:
            values[":seen"] = s(iso(launch.updated_at))
            condition = " AND ".join(filter(None, [condition, "updated_at = :seen"]))
        if error is not None:
            sets.append("#error = :error")
            names["#error"] = "error"
            values[":error"] = s(json.dumps(error))
        if progress is not None:
            assert kept_under is not None, "progress is kept under its stage"
            sets.append("results.#kept = :progress")
            names["#kept"] = str(kept_under)
            values[":progress"] = s(progress.model_dump_json(exclude_unset=True))
        stamped = [event.model_copy(update={"at": self.clock.now()}) for event in events or []]
        written = [*stamped, *written] if status_last else [*written, *stamped]
        try:
            self.commit(launch.launch_id, written, sets=sets, values=values, names=names, condition=condition)
        except Refused:
            raise StatusConflict(f"launch {launch.launch_id} changed status while {status} was being written") from None
        update: dict[str, Any] = {}
        if status is not None:
            update |= {"status": status, "stage": stage or launch.stage}
        if progress is not None and kept_under is not None:
            update["results"] = launch.results.model_copy(update={str(kept_under): progress})
        return launch.model_copy(update=update)

    def record_result(self, launch_id: str, stage: Stage, progress: BaseModel) -> None:
        """Keep a stage's progress on the record, outside a step (a decision's sign-off)."""
        self._update(
            launch_id,
            "SET results.#stage = :result",
            {":result": s(progress.model_dump_json(exclude_unset=True))},
            names={"#stage": str(stage)},
        )

    def record_rollback_point(self, launch_id: str, point: RollbackPoint) -> bool:
        """Store the rollback point once; False when one was already recorded (a retried step)."""
        return self._set_once(launch_id, "rollback_point", point)

    def _set_once(self, launch_id: str, attribute: str, value: BaseModel) -> bool:
        """Write `attribute` unless a first attempt wrote it already (a retried step); whether this one did."""
        try:
            kept = {":value": s(value.model_dump_json())}
            self._update(launch_id, f"SET {attribute} = :value", kept, condition=f"attribute_not_exists({attribute})")
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_artifacts(self, launch_id: str, artifacts: ReleaseArtifacts) -> ReleaseArtifacts:
        """Keep what the launch deploys, once: a retried preflight gets the artifacts resolved first, wherever
        the tag has moved since."""
        if self._set_once(launch_id, "artifacts", artifacts):
            return artifacts
        first = self.get_launch(launch_id).artifacts
        assert first is not None
        return first

    def record_emergency(self, launch_id: str, emergency: EmergencyLaunch) -> EmergencyLaunch:
        """Keep, once, that the launch starts outside its windows as an emergency (who else signs off)."""
        if self._set_once(launch_id, "emergency", emergency):
            return emergency
        first = self.get_launch(launch_id).emergency
        assert first is not None
        return first

    def record_seal(self, launch_id: str, seal: Seal) -> bool:
        """Keep the launch's seal once; False when one was kept already (a retried end)."""
        return self._set_once(launch_id, "seal", seal)

    def head(self, launch_id: str) -> tuple[int, str]:
        """The number and digest of the launch's last event, read consistently."""
        item = self.get(Keys.launch(launch_id))
        if item is None:
            raise LaunchNotFound(launch_id)
        return sequence_of(item), head_of(item)

    def record_change(self, launch_id: str, change: Change) -> None:
        """Note, before touching it, that this launch changes a part of the environment."""
        self._update(launch_id, "ADD changes :change", {":change": {"SS": [str(change)]}})

    def record_migration_task(self, launch_id: str, task_arn: str) -> None:
        """Note the migration task the launch started: whether rollback restores the database depends on it."""
        self._update(launch_id, "SET migration_task_arn = :task", {":task": s(task_arn)})

    def _update(
        self,
        launch_id: str,
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        condition: str | None = None,
    ) -> None:
        values = {**values, ":at": s(iso(self.clock.now()))}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": Keys.launch(launch_id),
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
        values = {f":end{i}": s(status) for i, status in enumerate(ended)}
        try:
            self.commit(
                launch_id,
                [event],
                sets=["#abort = :abort"],
                values={":abort": s(json.dumps(abort)), **values},
                names={"#status": "status", "#abort": "abort"},
                condition=f"attribute_not_exists(#abort) AND NOT #status IN ({', '.join(values)})",
            )
        except Refused as refused:
            launch = launch_from_item(refused.item)
            if launch.status.is_final or launch.abort is None:
                raise LaunchHasEnded(f"launch {launch_id} has already ended ({launch.status})") from None
            return launch.abort
        return None

    # -- reading the timeline -----------------------------------------------------------------

    def timeline(self, launch_id: str) -> list[TimelineEvent]:
        """The launch's events in the order they were written."""
        items = self.query_partition(Keys.launch_partition(launch_id), EVENT_PREFIX)
        return [TimelineEvent.model_validate_json(item["event"]["S"]) for item in items]


def results_attribute(results: LaunchResults) -> dict[str, Any]:
    return {
        stage: s(progress.model_dump_json(exclude_unset=True))
        for stage, progress in results
        if isinstance(progress, BaseModel)
    }


def listed_from_item(item: dict[str, Any]) -> ListedLaunch:
    """A launch as a list index projects it."""
    return ListedLaunch(
        launch_id=item["launch_id"]["S"],
        request=LaunchRequest.model_validate_json(item["request"]["S"]),
        requested_by=item.get("requested_by", {}).get("S", "unknown"),
        status=LaunchStatus(item["status"]["S"]),
        stage=Stage(item["stage"]["S"]) if "stage" in item else None,
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        rolled_back_by=item.get("rolled_back_by", {}).get("S"),
    )


def launch_from_item(item: dict[str, Any]) -> Launch:
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
        migration_task_arn=item.get("migration_task_arn", {}).get("S"),
        results=LaunchResults.model_validate(
            {stage: json.loads(value["S"]) for stage, value in item.get("results", {}).get("M", {}).items()}
        ),
        error=json.loads(item["error"]["S"]) if "error" in item else None,
        abort=json.loads(item["abort"]["S"]) if "abort" in item else None,
        rollback_of=json.loads(item["rollback_of"]["S"]) if "rollback_of" in item else None,
        rolled_back_by=item.get("rolled_back_by", {}).get("S"),
        profile_version=int(item["profile_version"]["N"]) if "N" in item.get("profile_version", {}) else None,
        seal=Seal.model_validate_json(item["seal"]["S"]) if "seal" in item else None,
        artifacts=ReleaseArtifacts.model_validate_json(item["artifacts"]["S"]) if "artifacts" in item else None,
        emergency=EmergencyLaunch.model_validate_json(item["emergency"]["S"]) if "emergency" in item else None,
        profile=EnvironmentProfile.model_validate_json(item["profile"]["S"], context={"recorded": True})
        if "profile" in item
        else None,
    )
