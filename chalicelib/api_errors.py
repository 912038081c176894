"""One place that turns domain exceptions into HTTP answers with a stable error code."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib.approvals import (
    MissingAttestations,
    NotAnApprover,
    NotARequiredRole,
    NotAwaitingApproval,
    RequestExpired,
    SeparationOfDuties,
)
from chalicelib.errors import BadRequest, PayloadTooLarge
from chalicelib.launches import IdempotencyKeyReused, IdempotentRequestInProgress, LaunchEnded, LaunchStillRunning
from chalicelib.profiles import UnknownEnvironment
from chalicelib.store import AlreadyDecided, EnvironmentLocked, LaunchNotFound, NotLocked


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message, **extra}}


def error_answer(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """(status, body) for a caller's mistake or a conflict; None for a real server fault."""
    if isinstance(exc, ValidationError):
        fields = [
            {"field": ".".join(str(part) for part in err["loc"]) or "body", "reason": err["msg"]}
            for err in exc.errors()
        ]
        return _error(400, "invalid_request", "; ".join(f"{f['field']}: {f['reason']}" for f in fields), fields=fields)
    if isinstance(exc, PayloadTooLarge):
        return _error(413, "payload_too_large", str(exc))
    if isinstance(exc, BadRequest):
        return _error(400, "invalid_request", str(exc), fields=[{"field": exc.field, "reason": exc.reason}])
    if isinstance(exc, NotLocked):
        return _error(404, "not_locked", str(exc))
    if isinstance(exc, IdempotencyKeyReused):
        return _error(409, "idempotency_key_reused", str(exc))
    if isinstance(exc, IdempotentRequestInProgress):
        return _error(409, "request_in_progress", str(exc))
    if isinstance(exc, LaunchEnded):
        return _error(409, "launch_ended", str(exc))
    if isinstance(exc, LaunchStillRunning):
        return _error(409, "launch_still_running", str(exc))
    if isinstance(exc, UnknownEnvironment):
        return _error(400, "unknown_environment", str(exc), fields=[{"field": "environment", "reason": str(exc)}])
    if isinstance(exc, NotARequiredRole):
        return _error(400, "invalid_request", str(exc), fields=[{"field": "role", "reason": str(exc)}])
    if isinstance(exc, LaunchNotFound):
        return _error(404, "launch_not_found", f"no launch {exc}")
    if isinstance(exc, EnvironmentLocked):
        return _error(
            409, "environment_locked", str(exc), running_launch_id=exc.holder, held_because=exc.held_because or None
        )
    if isinstance(exc, AlreadyDecided):
        return _error(409, "already_decided", str(exc))
    if isinstance(exc, NotAwaitingApproval):
        return _error(409, "not_awaiting_approval", str(exc))
    if isinstance(exc, SeparationOfDuties):
        return _error(403, "separation_of_duties", str(exc))
    if isinstance(exc, NotAnApprover):
        return _error(403, "not_an_approver", str(exc))
    if isinstance(exc, RequestExpired):
        return _error(410, "approval_expired", str(exc))
    if isinstance(exc, MissingAttestations):
        return _error(400, "invalid_request", str(exc), fields=[{"field": "attestations", "reason": str(exc)}])
    return None
