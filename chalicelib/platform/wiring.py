"""What the handlers reach the outside through: the store, clients, profiles and settings of this deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform import aws, runtime
from chalicelib.platform.settings import settings
from chalicelib.store import LaunchStore

# The clock every handler's store reads; a test sets it here, in one place.
CLOCK: Clock = SYSTEM_CLOCK


def launch_store() -> LaunchStore:
    return LaunchStore(aws.client("dynamodb"), settings().table_name, CLOCK)


def environment_of(launch: Launch, profile: EnvironmentProfile, function: str) -> Callable[[str], Any]:
    """Clients in the launch's environment: its role, in a session named after the launch and tagged with
    it, limited to what `function` does there."""
    return _as_role(profile, function, launch.launch_id, {"launch-id": launch.launch_id, "environment": profile.name})


def preflight_environment(profile: EnvironmentProfile, own: tuple[str, ...] = ()) -> Callable[[str], Any]:
    """Clients for the API's preflight report without a launch: the role, in a session named for the report,
    limited to what the API's function reads there; the services in `own` are the controller's (the
    notifications topic)."""
    tags = {"environment": profile.name}
    return _as_role(profile, "api_handler", f"preflight-{profile.name}", tags, own=own)


def role_reader(profile: EnvironmentProfile) -> Callable[[str], Any | None]:
    """IAM in the accounts whose roles the controller reads: its own (its function's role), and the
    environment's (the environment's role, as the API's function acts there); None for any other."""
    controller = controller_account()

    def iam_of(account: str) -> Any | None:
        if account == controller:
            return aws.client("iam")
        if account == profile.target.account_id:
            return preflight_environment(profile)("iam")
        return None

    return iam_of


def controller_account() -> str:
    """The account the controller runs in: its state machine's, else what STS says of the function."""
    machine = settings().state_machine_arn
    return machine.split(":")[4] if machine.count(":") >= 5 else _own_account()


@runtime.kept
def _own_account() -> str:
    return str(aws.client("sts").get_caller_identity()["Account"])


def _as_role(
    profile: EnvironmentProfile, function: str, session_name: str, tags: dict[str, str], own: tuple[str, ...] = ()
) -> Callable[[str], Any]:
    return aws.environment_clients(
        profile.target.role_arn,
        session_name=session_name,
        tags=tags,
        session_seconds=profile.target.session_seconds,
        own=own,
        limit=profile.target.policy_arn(function),
    )
