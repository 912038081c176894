"""Frontend layout releases on the local stack: the release uploaded under its own prefix, live by the
switch the release router reads, and a rollback that switches back, copying nothing over the live site."""

from __future__ import annotations

from typing import Any

import pytest
from localaws import key_value_store
from localaws.infrastructure import backend_image, site_build

from chalicelib.stages.release_switch import LIVE_RELEASE_KEY, release_prefix
from launchctl.client import ControllerApi
from tests.integration.helpers import drive, lock_holder, next_version, use_profile

pytestmark = pytest.mark.integration


def live(stack: Any) -> str | None:
    store = stack.profile.frontend.key_value_store_arn
    return key_value_store.value_of(store, LIVE_RELEASE_KEY)


def root(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {key: body for key, body in objects.items() if not key.startswith("releases/")}


def test_a_release_goes_live_by_the_switch_and_its_rollback_switches_back_copying_nothing(
    stack: Any, api: ControllerApi
) -> None:
    use_profile(stack, frontend=stack.profile.frontend.model_copy(update={"layout": "releases"}))
    served, objects = stack.site.homepage(), stack.site_objects()
    assert live(stack) is None  # the site's own layout, as a team's first launch with releases finds it
    # The switch's Lambda killed right after its write: the retry finds its release live and writes nothing.
    killed = stack.faults.add("deploy_frontend", "cloudfront-keyvaluestore.PutKey", "timeout")
    healthy = next_version()
    launch = drive(stack, api, healthy)
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    assert killed.fired == 1
    assert stack.faults.calls[("deploy_frontend", "cloudfront-keyvaluestore.PutKey")] == 1
    assert live(stack) == healthy
    assert stack.site.homepage() == site_build(healthy)["index.html"]  # through the router, from its prefix
    assert root(stack.site_objects()) == root(objects)  # nothing copied over the live site
    deployed = next(event for event in launch["timeline"] if event["kind"] == "frontend_deployed")
    # As the rollback point recorded it, not as the retry found the store.
    assert (deployed["details"]["release"], deployed["details"]["switched_from"]) == (healthy, None)

    broken = next_version()
    stack.site.unhealthy_images.add(backend_image(broken))
    launch = drive(stack, api, broken)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["rollback_point"]["live_release"] == healthy
    assert live(stack) == healthy  # switched back: the release before, still in place under its prefix
    assert stack.site.homepage() == site_build(healthy)["index.html"]
    undone = [e for e in launch["timeline"] if e["kind"] == "rolled_back" and e["message"].startswith("frontend")]
    assert undone, launch["timeline"]
    assert f"switched back to {healthy}, nothing copied" in undone[0]["message"]
    assert stack.faults.calls[("roll_back", "s3.CopyObject")] == 0
    assert stack.faults.calls[("record_rollback_point", "s3.CopyObject")] == 0
    bucket = stack.profile.frontend.site_bucket
    kept = stack.environment_client("s3").list_objects_v2(Bucket=bucket, Prefix=release_prefix(broken))
    assert kept["KeyCount"] == len(site_build(broken))  # the failed release stays, never live again by itself
    assert lock_holder() is None
    assert served is not None
