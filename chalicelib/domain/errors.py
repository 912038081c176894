"""Domain errors a stage raises; the state machine catches them by class name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel


class BadRequest(Exception):
    """A request the caller must fix; `field` names the part that is wrong (and `more`, any others)."""

    def __init__(self, field: str, reason: str, more: Sequence[tuple[str, str]] = ()) -> None:
        self.problems = [(field, reason), *more]
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.problems))
        self.field = field
        self.reason = reason


class PayloadTooLarge(Exception):
    """The request body is larger than any valid request (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")


class LaunchError(Exception):
    """Base of the errors that end or divert a launch on purpose; `progress` is what the stage got to,
    kept with the failure (the smoke checks that ran, the bake's last figures)."""

    def __init__(self, message: str, progress: BaseModel | None = None) -> None:
        super().__init__(message)
        self.progress = progress


class PreflightBlocked(LaunchError):
    """A blocking preflight check failed; nothing was changed."""


class ApprovalRejected(LaunchError):
    """An approver refused the launch; nothing was changed."""


class BackendRolloutFailed(LaunchError):
    """The ECS deployment failed or did not become steady before its deadline."""


class SmokeTestFailed(LaunchError):
    """The release does not answer the smoke checks as expected."""


class FunctionalTestFailed(LaunchError):
    """A functional test (a Synthetics canary's run against the release) failed."""


class BakeBreached(LaunchError):
    """An alarm fired or a metric crossed its threshold while the release baked."""


class RollbackIncomplete(LaunchError):
    """Rollback could not undo everything; a person has to finish it."""


class RollbackPointFailed(LaunchError):
    """What rollback would need could not be recorded; nothing was deployed."""


class FrontendDeployFailed(LaunchError):
    """The release's static build could not be published to the site."""


class MigrationFailed(LaunchError):
    """The database migration task failed, stopped with a non-zero exit code, or overran its deadline."""


class LaunchAborted(LaunchError):
    """Someone asked to stop the launch; the stage that notices raises this instead of working."""
