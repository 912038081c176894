"""Builds what a handler needs (store, launch, profile) from settings and lazily made clients."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.errors import LaunchAborted
from chalicelib.models import Launch, Stage, StageEvent
from chalicelib.profiles import EnvironmentProfile, load_profile
from chalicelib.settings import settings
from chalicelib.store import LaunchStore


def launch_store() -> LaunchStore:
    return LaunchStore(aws.client("dynamodb"), settings().table_name)


def stage_inputs(
    event: dict[str, Any], honour_abort: Stage | None = None
) -> tuple[LaunchStore, Launch, EnvironmentProfile]:
    """Parse a stage's event and load the launch it is about, with its environment's profile.

    `honour_abort`: the stage about to work; if someone asked to abort, it raises LaunchAborted
    instead, and the state machine ends the launch (nothing changed yet) or rolls back."""
    parsed = StageEvent.model_validate(event)
    store = launch_store()
    launch = store.get_launch(parsed.launch_id)
    if honour_abort is not None and launch.abort:
        reason = f"aborted by {launch.abort['aborted_by']}: {launch.abort['reason']}"
        store.append_event(launch.launch_id, "aborting", f"{honour_abort} not started: {reason}", stage=honour_abort)
        raise LaunchAborted(reason)
    return store, launch, load_profile(launch.request.environment)
