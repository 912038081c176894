"""A test that breaks the shared local stack and stops half-way leaves it whole for the next test."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.infrastructure import backend_image

from launchctl.client import ControllerApi
from tests.integration.helpers import lock_holder, next_version, start, wait

pytestmark = pytest.mark.integration


def test_restore_undoes_what_a_test_left_broken_running_or_locked(stack: Any, api: ControllerApi) -> None:
    # What a test stopped half-way could leave: a launch waiting at its gate with the environment locked,
    # a broken item, a bad release, faults and a slow image.
    version = next_version()
    launch_id = start(stack, api, version)
    assert wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL")
    stack.break_check("s3.site_versioning")
    stack.break_check("app.bundle_budget")
    stack.scheduler.slow_images.add(backend_image(version))
    stack.faults.add("smoke_test", "secrets-manager.GetSecretValue", "error", times=100)
    assert lock_holder() == launch_id
    # A profile pushed and not put back, which the API's container has read.
    from chalicelib.platform.profile_store import push_profile

    moved = stack.profile.frontend.model_copy(update={"site_bucket": "acme-site-moved"})
    push_profile(stack.client("ssm"), stack.profile.model_copy(update={"frontend": moved}), stack.profiles_path)
    assert api.preflight("local")["passed"] is False

    restored = stack.restore()

    assert {"s3.site_versioning repaired", f"launch {launch_id} ended", "the local profile stored again"} <= set(
        restored
    )
    assert api.get(launch_id)["status"] == "ABORTED"
    assert (stack.broken_checks, stack.release_defects, stack.faults.planted()) == ([], set(), [])
    assert not stack.scheduler.slow_images
    assert lock_holder() is None
    report = api.preflight("local", frontend_artifact=stack.publish_release(next_version()))
    assert report["passed"], [check for check in report["checks"] if check["result"] != "pass"]
