"""Builds what a handler needs (store, launch, profile) from settings and lazily made clients."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.models import Launch, StageEvent
from chalicelib.profiles import EnvironmentProfile, load_profile
from chalicelib.settings import settings
from chalicelib.store import LaunchStore


def launch_store() -> LaunchStore:
    return LaunchStore(aws.client("dynamodb"), settings().table_name)


def stage_inputs(event: dict[str, Any]) -> tuple[LaunchStore, Launch, EnvironmentProfile]:
    """Parse a stage's event and load the launch it is about, with its environment's profile."""
    parsed = StageEvent.model_validate(event)
    store = launch_store()
    launch = store.get_launch(parsed.launch_id)
    return store, launch, load_profile(launch.request.environment)
