"""Where moto 5.2.5 answers differently from AWS in ways the controller relies on, make it answer as AWS does.

Each fix is checked against AWS's documented behaviour; the product code stays what runs on AWS."""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    """Patch moto in this process (the local stack runs moto in-process); safe to call again."""
    global _applied
    if not _applied:
        _invalidations_as_aws_answers()
        _transactions_isolated()
        _applied = True
    _tasks_run_until_stopped()  # moto's reset forgets it


def _invalidations_as_aws_answers() -> None:
    """CloudFront says "Completed" (moto: "COMPLETED", which the invalidation_completed waiter never
    accepts), and a repeated CallerReference returns the first invalidation instead of a new one."""
    from moto.cloudfront.models import CloudFrontBackend

    original = CloudFrontBackend.create_invalidation

    def create_invalidation(self: Any, dist_id: str, paths: list[str], caller_ref: str) -> Any:
        for existing in self.invalidations.get(dist_id, []):
            if existing.caller_ref == caller_ref:
                return existing
        invalidation = original(self, dist_id, paths, caller_ref)
        invalidation.status = "Completed"
        return invalidation

    CloudFrontBackend.create_invalidation = create_invalidation  # type: ignore[method-assign]


def _transactions_isolated() -> None:
    """moto copies the whole table before a transaction and puts the copy back when it fails, which
    wipes what a concurrent transaction wrote meanwhile. DynamoDB isolates transactions: serialise them."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            original(self, transact_items)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _tasks_run_until_stopped() -> None:
    """moto jumps a task to STOPPED (exit 0) the first time it is read; on AWS a task runs until its
    container exits. Tasks stay RUNNING here until the local ECS scheduler stops them."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
