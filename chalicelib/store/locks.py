"""The per-environment lock: one launch at a time, with a lease that frees it if its holder vanished."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.clock import iso
from chalicelib.store.dynamodb import Keys, Table, n, s

# A held lock (after a failed rollback) has no lease: it stays until a person unlocks it.
NO_LEASE = "9999-12-31T23:59:59+00:00"


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


class Lock(BaseModel):
    """An environment's lock as stored: who holds it since when, until when, and why it is held."""

    environment: str
    owner: str
    acquired_at: datetime
    lease_expires_at: datetime
    held_because: str = ""

    def lease_ran_out(self, moment: datetime) -> bool:
        """The one lease rule: past its lease, a lock no longer keeps another launch out by itself."""
        return self.lease_expires_at < moment


class EnvironmentLocks(Table):
    """The environment locks of the table."""

    def lock_put(self, environment: str, launch_id: str, lease_seconds: int) -> dict[str, Any]:
        """The conditional write that takes the environment: free, ours already, or its lease ran out.

        The lease is checked in the condition because TTL deletes expired items late."""
        moment = self.clock.now()
        expires = moment + timedelta(seconds=lease_seconds)
        return {
            "TableName": self._table,
            "Item": {
                **Keys.lock(environment),
                "owner": s(launch_id),
                "acquired_at": s(iso(moment)),
                "lease_expires_at": s(iso(expires)),
                "expires_at_epoch": n(int(expires.timestamp())),
            },
            "ConditionExpression": "attribute_not_exists(pk) OR #owner = :me OR lease_expires_at < :now",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": s(launch_id), ":now": s(iso(moment))},
        }

    def acquire_lock(self, environment: str, launch_id: str, lease_seconds: int) -> None:
        """Take the environment for this launch; re-taking our own lock is a no-op renewal."""
        try:
            self._db.put_item(**self.lock_put(environment, launch_id, lease_seconds))
        except self._db.exceptions.ConditionalCheckFailedException:
            raise EnvironmentLocked(environment, self.lock_holder(environment) or "unknown") from None

    def release_lock(self, environment: str, launch_id: str) -> bool:
        """Release the lock if this launch holds it; False when it did not."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=Keys.lock(environment),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": s(launch_id)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def hold_lock(self, environment: str, launch_id: str, reason: str) -> bool:
        """Keep this launch's lock with no lease, until a person unlocks it; False if it held none."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=Keys.lock(environment),
                UpdateExpression="SET lease_expires_at = :never, held_because = :reason REMOVE expires_at_epoch",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": s(launch_id), ":never": s(NO_LEASE), ":reason": s(reason)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def lock(self, environment: str) -> Lock | None:
        """The environment's lock as stored, if any (its lease may have run out)."""
        item = self.get(Keys.lock(environment))
        if not item:
            return None
        return Lock(
            environment=environment,
            owner=item["owner"]["S"],
            acquired_at=datetime.fromisoformat(item["acquired_at"]["S"]),
            lease_expires_at=datetime.fromisoformat(item["lease_expires_at"]["S"]),
            held_because=item.get("held_because", {}).get("S", ""),
        )

    def lock_holder(self, environment: str) -> str | None:
        """The launch holding the environment now: None when it is free or the lease ran out."""
        lock = self.lock(environment)
        if lock is None or lock.lease_ran_out(self.clock.now()):
            return None
        return lock.owner
