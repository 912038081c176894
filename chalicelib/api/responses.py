"""One place that turns domain exceptions into HTTP answers with a stable error code."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib.api.answers import ErrorAnswer, ErrorBody
from chalicelib.api.approvals import (
    MissingAttestations,
    NotAnApprover,
    NotARequiredRole,
    NotAwaitingApproval,
    RequestExpired,
    SeparationOfDuties,
)
from chalicelib.api.callers import Forbidden, IdentityProviderUnavailable, Unauthenticated
from chalicelib.api.launches import (
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
    LaunchStillRunning,
    NotRollbackable,
)
from chalicelib.domain.errors import BadRequest, PayloadTooLarge
from chalicelib.domain.profiles import ProfileError, UnknownEnvironment
from chalicelib.domain.wording import problems
from chalicelib.store import AlreadyDecided, EnvironmentLocked, LaunchHasEnded, LaunchNotFound, NotLocked


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, ErrorAnswer(error=ErrorBody(code=code, message=message, **extra)).body()


# Errors whose answer is their message under a fixed status and code.
_PLAIN: list[tuple[type[Exception], int, str]] = [
    (PayloadTooLarge, 413, "payload_too_large"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (IdentityProviderUnavailable, 503, "identity_provider_unavailable"),
    (NotLocked, 404, "not_locked"),
    (IdempotencyKeyReused, 409, "idempotency_key_reused"),
    (IdempotentRequestInProgress, 409, "request_in_progress"),
    (LaunchHasEnded, 409, "launch_ended"),
    (LaunchStillRunning, 409, "launch_still_running"),
    (NotRollbackable, 409, "not_rollbackable"),
    (AlreadyDecided, 409, "already_decided"),
    (NotAwaitingApproval, 409, "not_awaiting_approval"),
    (SeparationOfDuties, 403, "separation_of_duties"),
    (NotAnApprover, 403, "not_an_approver"),
    (RequestExpired, 410, "approval_expired"),
    # A stored profile edited by hand into an invalid one: the deployment's fault, named, not the caller's.
    (ProfileError, 503, "profile_invalid"),
]

# Caller mistakes about one field: 400 naming it.
_FIELD: list[tuple[type[Exception], str, str]] = [
    (UnknownEnvironment, "unknown_environment", "environment"),
    (NotARequiredRole, "invalid_request", "role"),
    (MissingAttestations, "invalid_request", "attestations"),
]


def error_answer(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """(status, body) for a caller's mistake or a conflict; None for a real server fault."""
    if isinstance(exc, ValidationError):
        found = problems(exc)
        exc = BadRequest(*found[0], more=found[1:])
    if isinstance(exc, BadRequest):
        fields = [{"field": field, "reason": reason} for field, reason in exc.problems]
        return _error(400, "invalid_request", str(exc), fields=fields)
    if isinstance(exc, LaunchNotFound):
        return _error(404, "launch_not_found", f"no launch {exc}")
    if isinstance(exc, EnvironmentLocked):
        return _error(
            409, "environment_locked", str(exc), running_launch_id=exc.holder, held_because=exc.held_because or None
        )
    for kind, code, field in _FIELD:
        if isinstance(exc, kind):
            return _error(400, code, str(exc), fields=[{"field": field, "reason": str(exc)}])
    for kind, status, code in _PLAIN:
        if isinstance(exc, kind):
            return _error(status, code, str(exc))
    return None
