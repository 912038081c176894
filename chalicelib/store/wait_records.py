"""What a launch is waiting for: the execution's task token, kept under each resource an event may name."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.store.dynamodb import Keys, Table, n, s

# A kind of wait: a row of chalicelib/stages/wait_kinds.py (the store keeps it, the stages know what it means).
WaitKind = str

# A wait outlives its deadline by this much in the table (TTL deletes late anyway): an event that comes
# after it still finds it and is answered "already decided" rather than "unknown".
KEPT_AFTER_DEADLINE = timedelta(days=1)


class Wait(BaseModel):
    """One open wait of a launch: the execution's token, and the resources whose events decide it."""

    launch_id: str
    kind: WaitKind
    token: str = Field(min_length=1, max_length=2048)
    resources: list[str] = Field(min_length=1)
    expects: dict[str, str] = Field(default_factory=dict)  # e.g. a rollout's deployment id
    since: datetime
    deadline: datetime


class WaitRecords(Table):
    """The launch's open wait (one at a time), and one pointer to it per resource it waits on."""

    def open_wait(self, wait: Wait) -> None:
        """Keep the wait under the launch and each resource; it replaces the launch's previous wait, whose
        token the execution has already left behind."""
        body = s(wait.model_dump_json())
        expires = n(int((wait.deadline + KEPT_AFTER_DEADLINE).timestamp()))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "Item": {
                        **Keys.wait_of(wait.launch_id),
                        "wait": body,
                        "token": s(wait.token),
                        "expires_at_epoch": expires,
                    }
                }
            }
        ]
        for resource in sorted(set(wait.resources)):
            key = Keys.waiting_on(resource, wait.launch_id, wait.kind)
            items.append({"Put": {"Item": {**key, "wait": body, "expires_at_epoch": expires}}})
        self.transact(items)

    def open_wait_of(self, launch_id: str) -> Wait | None:
        item = self.get(Keys.wait_of(launch_id))
        return Wait.model_validate_json(item["wait"]["S"]) if item else None

    def waits_on(self, resource: str) -> list[Wait]:
        """Every launch's wait that names `resource` (usually one; an alarm two environments share, more)."""
        return [Wait.model_validate_json(item["wait"]["S"]) for item in self.query_partition(Keys.waiting(resource))]

    def close_wait(self, wait: Wait) -> bool:
        """Take the wait off the table; True for the one caller that did (an event, its duplicate and the
        deadline's look may race: only the winner answers the execution)."""
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "Key": Keys.wait_of(wait.launch_id),
                    "ConditionExpression": "#token = :token",
                    "ExpressionAttributeNames": {"#token": "token"},
                    "ExpressionAttributeValues": {":token": s(wait.token)},
                }
            }
        ]
        items += [
            {"Delete": {"Key": Keys.waiting_on(resource, wait.launch_id, wait.kind)}}
            for resource in sorted(set(wait.resources))
        ]
        try:
            self.transact(items)
        except self._db.exceptions.TransactionCanceledException:
            return False
        return True
