"""The approval records: the gate with its task token, one request per role, the decisions and deciders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.clock import iso
from chalicelib.domain.models import TERMINAL_STATUSES, Approval, ApprovalRequest
from chalicelib.store.dynamodb import APPROVAL_PREFIX, REQUEST_PREFIX, Keys, Table, cancellation_codes, s
from chalicelib.store.launch_records import LaunchHasEnded


class AlreadyDecided(Exception):
    """This role's approval was already given or refused, or its request closed."""


class PersonAlreadyCounted(Exception):
    """This person already decided for another role of the launch: one person, one role."""


class ApprovalGate(BaseModel):
    """Where a launch waits for its sign-off: the execution's task token (kept server-side) and the roles."""

    task_token: str
    roles: list[str]
    expires_at: datetime


def request_from_item(item: dict[str, Any]) -> ApprovalRequest:
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


def approval_from_item(item: dict[str, Any]) -> Approval:
    return Approval.model_validate_json(item["approval"]["S"])


class ApprovalRecords(Table):
    """The approval records of the table."""

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
        when the caller has not), so links already emailed stay valid; it returns the requests in force.
        Each write holds only while the launch has not ended (LaunchHasEnded otherwise): a gate whose
        execution already timed out or was aborted opens no request and sends nobody a link."""
        self._while_running(
            launch_id,
            {
                "Put": {
                    "Item": {
                        **Keys.gate(launch_id),
                        "task_token": s(task_token),
                        "roles": {"L": [s(request.role) for request in requests]},
                        "expires_at": s(iso(expires_at)),
                    }
                }
            },
        )
        stored = existing if existing is not None else self.approval_requests(launch_id)
        in_force = {request.role: request for request in stored}
        for request in requests:
            if request.role in in_force:
                continue
            self._while_running(
                launch_id,
                {
                    "Put": {
                        "Item": {
                            **Keys.request(launch_id, request.role),
                            "request": s(request.model_dump_json()),
                            "approval_id": s(request.approval_id),
                            "state": s("open"),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "Item": {
                            **Keys.approval_link(request.approval_id),
                            "launch_id": s(launch_id),
                            "role": s(request.role),
                        },
                    }
                },
            )
            in_force[request.role] = request
        return [in_force[request.role] for request in requests]

    def _while_running(self, launch_id: str, *writes: dict[str, Any]) -> None:
        """The writes, in one transaction that holds only while the launch has not ended."""
        ended = sorted(TERMINAL_STATUSES)
        check = {
            "ConditionCheck": {
                "Key": Keys.launch(launch_id),
                "ConditionExpression": f"NOT #status IN ({', '.join(f':ended{i}' for i in range(len(ended)))})",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {f":ended{i}": s(status) for i, status in enumerate(ended)},
            }
        }
        try:
            self.transact([check, *writes])
        except self._db.exceptions.TransactionCanceledException as exc:
            if cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                raise LaunchHasEnded(f"launch {launch_id} ended before its approval gate opened") from None
            raise

    def approval_gate(self, launch_id: str) -> ApprovalGate | None:
        item = self.get(Keys.gate(launch_id))
        if not item:
            return None
        return ApprovalGate(
            task_token=item["task_token"]["S"],
            roles=[role["S"] for role in item["roles"]["L"]],
            expires_at=datetime.fromisoformat(item["expires_at"]["S"]),
        )

    def approval_requests(self, launch_id: str) -> list[ApprovalRequest]:
        return [
            request_from_item(item) for item in self.query_partition(Keys.launch_partition(launch_id), REQUEST_PREFIX)
        ]

    def approval_request(self, approval_id: str) -> ApprovalRequest | None:
        """The request a link names; None for an id nobody issued."""
        pointer = self.get(Keys.approval_link(approval_id))
        if not pointer:
            return None
        item = self.get(Keys.request(pointer["launch_id"]["S"], pointer["role"]["S"]))
        if not item or item["approval_id"]["S"] != approval_id:
            return None
        return request_from_item(item)

    def mark_emailed(self, launch_id: str, role: str, approver: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=Keys.request(launch_id, role),
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
            self.transact(
                [
                    {
                        "Update": {
                            "Key": Keys.request(launch_id, approval.role),
                            "UpdateExpression": "SET #state = :state, decided_by = :who, decided_at = :at",
                            "ConditionExpression": "#state = :open AND approval_id = :id",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {
                                ":state": s(state),
                                ":who": s(person),
                                ":at": s(iso(approval.decided_at)),
                                ":open": s("open"),
                                ":id": s(approval_id),
                            },
                        }
                    },
                    {
                        "Put": {
                            "Item": {
                                **Keys.approval(launch_id, approval.role),
                                "approval": s(approval.model_dump_json()),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "Item": {**Keys.decider(launch_id, person), "role": s(approval.role)},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except self._db.exceptions.TransactionCanceledException as exc:
            codes = cancellation_codes(exc)
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
                    Key=Keys.request(launch_id, request.role),
                    UpdateExpression="SET #state = :state, closed_because = :because",
                    ConditionExpression="#state = :open",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":state": s(state), ":because": s(because), ":open": s("open")},
                )
            except self._db.exceptions.ConditionalCheckFailedException:
                continue  # decided meanwhile
            closed.append(request.role)
        return closed

    def approvals(self, launch_id: str) -> list[Approval]:
        return [
            approval_from_item(item) for item in self.query_partition(Keys.launch_partition(launch_id), APPROVAL_PREFIX)
        ]
