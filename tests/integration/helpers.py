"""Driving whole launches on the local stack: start, approve, wait, and what the environment runs."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from localaws.infrastructure import backend_image

from launchctl.client import ControllerApi, is_final

APPROVERS = {
    "tech_lead": "tess.lead@acme.example",
    "product_manager": "pat.pm@acme.example",
    "qa_lead": "quinn.qa@acme.example",
}
ATTESTATIONS = ["code_freeze", "rollback_plan", "on_call", "runbooks"]
_versions = iter(range(100, 1000))


COMMIT = "0123456789abcdef"


def start(stack: Any, api: ControllerApi, version: str, git_sha: str = COMMIT) -> str:
    return api.start(
        environment="local",
        version=version,
        git_sha=git_sha,
        frontend_artifact=stack.publish_release(version),
        backend_image=backend_image(version),
    )["launch_id"]


def wait(api: ControllerApi, launch_id: str, until: Any = is_final, timeout: float = 90) -> dict[str, Any]:
    # Each look is an API request (a launch's record and timeline read): twice a second is enough for a
    # launch of some seconds, and leaves the shared cores to the launches.
    return api.wait(launch_id, until, timeout=timeout, interval=0.5)


def decide(stack: Any, launch_id: str, role: str, decision: str = "approve", comment: str = "") -> dict[str, Any]:
    """The role's approver decides through the API, signed in as themselves (IAM)."""
    return stack.api_as(APPROVERS[role]).decide(launch_id, role, decision, comment, attestations=ATTESTATIONS)


def approve_all(stack: Any, api: ControllerApi, launch_id: str) -> None:
    launch = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert launch["status"] == "AWAITING_APPROVAL", launch["timeline"]
    for role in APPROVERS:
        decide(stack, launch_id, role)


def run_approved(stack: Any, api: ControllerApi, version: str) -> dict[str, Any]:
    """Start a launch of `version`, give every sign-off, and return it once it has ended."""
    launch_id = start(stack, api, version)
    approve_all(stack, api, launch_id)
    return wait(api, launch_id)


def snapshot(stack: Any) -> tuple[str, dict[str, bytes]]:
    """What the environment serves: the service's task definition and the site's objects."""
    return stack.service_task_definition(), stack.site_objects()


def use_profile(stack: Any, **sections: Any) -> None:
    """The local profile stored with `sections` in place of its own (none: as the stack started with it),
    and read afresh by every function; the stack's restore stores the starting one again after the test."""
    from chalicelib.platform.profile_store import push_profile

    push_profile(stack.client("ssm"), stack.profile.model_copy(update=sections), stack.profiles_path)
    stack.forget_profiles()


def first_event_at(launch: dict[str, Any], kind: str, stage: str | None = None) -> datetime:
    """When the launch's timeline first recorded an event of `kind` (in `stage`): the controller's own clock."""
    return next(
        datetime.fromisoformat(event["at"])
        for event in launch["timeline"]
        if event["kind"] == kind and stage in {None, event["stage"]}
    )


def next_version() -> str:
    return f"2.{next(_versions)}.0"


def drive(stack: Any, api: ControllerApi, version: str) -> dict[str, Any]:
    """Start a launch, sign it off if its gate opens, and return it once it has ended."""
    launch_id = start(stack, api, version)
    gate = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    if gate["status"] == "AWAITING_APPROVAL":
        for role in APPROVERS:
            decide(stack, launch_id, role)
    return wait(api, launch_id)


def launch_alarms(stack: Any, launch_id: str) -> list[str]:
    """The alarms the launch made for its bake that still exist in the environment's account."""
    prefix = f"{stack.environment_role.rsplit('/', 1)[-1]}/{launch_id}/"
    found = stack.environment_client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    return [alarm["AlarmName"] for alarm in found]


def lock_holder() -> str | None:
    """The launch holding the local environment, as the controller's store sees it."""
    from chalicelib.platform.wiring import launch_store

    return launch_store().lock_holder("local")


def pages_of(stack: Any, launch_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """What paged the on-call about a launch, once the finish has sent it: the finish pages after the launch's
    final status, and after the team's channel and Lark, so a test reading at once would race it."""
    deadline = time.monotonic() + timeout
    while not (sent := stack.pages(launch_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(sent)
