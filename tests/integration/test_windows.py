"""Deploy windows on the local stack: outside one a launch is BLOCKED naming the next; an emergency goes ahead
only with the profile's emergency role signing off as well, marked, and it pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from localaws.inbox import open_link
from localaws.infrastructure import backend_image

from launchctl.client import ControllerApi, is_final
from tests.integration.helpers import decide, next_version, start, use_profile, wait

pytestmark = pytest.mark.integration
EMERGENCY_APPROVER = "quentin.qa@acme.example"


def test_in_a_freeze_a_launch_is_blocked_and_an_emergency_waits_for_the_emergency_role_and_pages(
    stack: Any, api: ControllerApi
) -> None:
    from chalicelib.domain.profiles import DeployWindows

    today = datetime.now(UTC).date()
    windows = {
        "time_zone": "UTC",
        "freezes": [{"starts": today - timedelta(days=1), "ends": today + timedelta(days=1), "reason": "load test"}],
        "emergency": {"role": "incident_commander", "approvers": [EMERGENCY_APPROVER]},
    }
    use_profile(stack, windows=DeployWindows.model_validate(windows))
    blocked = wait(api, start(stack, api, next_version()))
    assert blocked["status"] == "BLOCKED"
    said = next(event["message"] for event in blocked["timeline"] if event["kind"] == "preflight")
    opens = today + timedelta(days=2)
    assert f"next window opens: {opens:%a %Y-%m-%d} 00:00 UTC" in said
    assert "load test" in said

    version = next_version()
    launch_id = api.start(
        environment="local",
        version=version,
        git_sha="0123456789abcdef",
        frontend_artifact=stack.publish_release(version),
        backend_image=backend_image(version),
        emergency_reason="checkout fails for every customer",
    )["launch_id"]
    gate = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert gate["status"] == "AWAITING_APPROVAL", gate["timeline"]
    assert gate["emergency"]["signoff_role"] == "incident_commander"
    assert sorted(r["role"] for r in gate["approval_requests"]) == [
        "incident_commander",
        "product_manager",
        "qa_lead",
        "tech_lead",
    ]
    [paged] = stack.pages(launch_id)
    assert paged["event"] == "emergency"
    assert "EMERGENCY" in paged["title"]
    assert "checkout fails for every customer" in paged["description"]
    for role in ("tech_lead", "product_manager", "qa_lead"):
        decide(stack, launch_id, role)
    assert api.get(launch_id)["status"] == "AWAITING_APPROVAL"  # the emergency role has not signed off
    page, _ = open_link(api.view_link(launch_id)["url"])
    assert "EMERGENCY" in page.html
    assert "incident_commander" in page.html
    # The emergency role's say is the last: here it sends the release back to wait for the window.
    answer = stack.api_as(EMERGENCY_APPROVER).decide(
        launch_id, "incident_commander", "reject", "mitigated by a feature flag: wait for the window"
    )
    assert answer["gate"] == "rejected"
    assert wait(api, launch_id)["status"] == "REJECTED"
