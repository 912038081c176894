"""What the handlers reach the outside through: the store, clients, profiles and settings of this deployment."""

from __future__ import annotations

from chalicelib import aws
from chalicelib.clock import SYSTEM_CLOCK, Clock
from chalicelib.settings import settings
from chalicelib.stages.harness import Dependencies
from chalicelib.store import LaunchStore

# The clock every handler's store reads; a test sets it here, in one place.
CLOCK: Clock = SYSTEM_CLOCK


def launch_store() -> LaunchStore:
    return LaunchStore(aws.client("dynamodb"), settings().table_name, CLOCK)


def dependencies() -> Dependencies:
    """The stage harness's view of this deployment."""
    # Stage clients in the function's region; the one ACM client a stage asks for is CloudFront's, in us-east-1.
    return Dependencies(store=launch_store, client=aws.preflight_client, settings=settings)
