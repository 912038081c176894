"""The single table: its shape, the one place its item keys are spelled, and transactions with retry."""

from __future__ import annotations

import random
import time
from typing import Any

from chalicelib.domain.clock import SYSTEM_CLOCK, Clock

LIST_INDEX = "recent"


def s(value: str) -> dict[str, str]:
    """A DynamoDB string attribute."""
    return {"S": value}


def n(value: int) -> dict[str, str]:
    """A DynamoDB number attribute."""
    return {"N": str(value)}


class Keys:
    """Every item's key in the single-table layout. A launch's partition holds its record, timeline,
    approval gate, requests, decisions, deciders and open wait; a lock, an approval link's pointer and a
    wait's pointer from each resource it waits on have their own."""

    @staticmethod
    def launch(launch_id: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s("LAUNCH")}

    @staticmethod
    def launch_partition(launch_id: str) -> dict[str, str]:
        return s(f"LAUNCH#{launch_id}")

    @staticmethod
    def event(launch_id: str, sequence: int) -> dict[str, Any]:
        # Zero-padded: the sort key orders the timeline by its sequence, which the launch record hands out.
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s(f"{EVENT_PREFIX}{sequence:010d}")}

    @staticmethod
    def gate(launch_id: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s("GATE")}

    @staticmethod
    def request(launch_id: str, role: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s(f"{REQUEST_PREFIX}{role}")}

    @staticmethod
    def approval(launch_id: str, role: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s(f"{APPROVAL_PREFIX}{role}")}

    @staticmethod
    def decider(launch_id: str, person: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s(f"DECIDER#{person}")}

    @staticmethod
    def approval_link(approval_id: str) -> dict[str, Any]:
        return {"pk": s(f"APPROVAL_ID#{approval_id}"), "sk": s("REQUEST")}

    @staticmethod
    def wait_of(launch_id: str) -> dict[str, Any]:
        return {"pk": s(f"LAUNCH#{launch_id}"), "sk": s("WAIT")}

    @staticmethod
    def waiting(resource: str) -> dict[str, str]:
        return s(f"WAITING_ON#{resource}")

    @staticmethod
    def waiting_on(resource: str, launch_id: str, kind: str) -> dict[str, Any]:
        return {"pk": Keys.waiting(resource), "sk": s(f"LAUNCH#{launch_id}#{kind}")}

    @staticmethod
    def lock(environment: str) -> dict[str, Any]:
        return {"pk": s(f"LOCK#{environment}"), "sk": s("LOCK")}


EVENT_PREFIX = "EVENT#"
REQUEST_PREFIX = "REQUEST#"
APPROVAL_PREFIX = "APPROVAL#"
# The launch list's index partition (gsi1pk); Powertools idempotency records live under their own pk.
LAUNCH_LIST = "LAUNCH"


def cancellation_codes(error: Any) -> list[str | None]:
    """Why DynamoDB cancelled a transaction, one code per item in the order written."""
    return [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]


class Table:
    """The table and its client (injected, so tests hand it moto's), and the clock every record is stamped by."""

    def __init__(self, dynamodb: Any, table_name: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = dynamodb
        self._table = table_name
        self.clock = clock

    def transact(self, items: list[dict[str, Any]], attempts: int = 5) -> None:
        """TransactWriteItems, retried while DynamoDB cancels it for a conflict with a concurrent
        transaction on the same items (botocore does not retry those); a failed condition is not retried."""
        for item in items:
            next(iter(item.values()))["TableName"] = self._table
        for attempt in range(attempts):
            try:
                self._db.transact_write_items(TransactItems=items)
                return
            except self._db.exceptions.TransactionCanceledException as exc:
                codes = set(cancellation_codes(exc))
                if "TransactionConflict" not in codes or "ConditionalCheckFailed" in codes or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * 2**attempt * (1 + random.random()))  # noqa: S311 - jitter, not security

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return item

    def query_partition(self, partition: dict[str, str], prefix: str = "") -> list[dict[str, Any]]:
        """Every item of a partition whose sort key starts with `prefix` ("" for all), in sort-key order."""
        items: list[dict[str, Any]] = []
        values = {":pk": partition} | ({":prefix": s(prefix)} if prefix else {})
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


# The launch list's indexes, one per filter it offers, newest first by gsi1sk ("<created>#<launch id>"),
# each projecting only what a listed launch shows: a page reads exactly the launches it answers.
LIST_INDEXES: dict[tuple[bool, bool], tuple[str, str]] = {
    # (by environment, by status): (index, its partition key attribute)
    (False, False): ("list-by-time", "gsi1pk"),
    (True, False): ("list-by-environment", "environment"),
    (False, True): ("list-by-status", "status"),
    (True, True): ("list-by-environment-status", "environment_status"),
}
LISTED_ATTRIBUTES = [
    "launch_id",
    "environment",
    "status",
    "request",
    "requested_by",
    "stage",
    "created_at",
    "updated_at",
    "rolled_back_by",
]


def environment_status(environment: str, status: str) -> str:
    """The list-by-environment-status index's partition of a launch."""
    return f"{environment}#{status}"


def table_definition(table_name: str) -> dict[str, Any]:
    """The table's shape, shared by the deploy template (a test checks deploy/resources.json against it)
    and the local stack."""
    keys = {"pk", "sk", "gsi1pk", "gsi1sk"}
    list_indexes = [
        {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {
                "ProjectionType": "INCLUDE",
                # The table's and the index's keys are projected anyway (and may not be named).
                "NonKeyAttributes": [name for name in LISTED_ATTRIBUTES if name not in keys | {partition}],
            },
        }
        for name, partition in LIST_INDEXES.values()
    ]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ["pk", "sk", "gsi1pk", "gsi1sk", "environment", "status", "environment_status"]
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                # Whole launches in time order: the watch reads the running ones of the last hours.
                "IndexName": LIST_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            *list_indexes,
        ],
    }
