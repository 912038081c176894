"""The launch page in a real browser: a running launch, the same launch rolled back, and a succeeded one.

The screenshots are kept as test artifacts in out/launch-page/ (the README shows them, copied to docs/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localaws.browser import Chromium

from launchctl.client import ControllerApi
from tests.integration.helpers import approve_all, next_version, run_approved, start, use_profile, wait

ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "launch-page"


def _shoot(browser: Chromium, url: str, name: str) -> str:
    """Open the page as a person would, keep its picture, and answer what it says."""
    browser.send("Emulation.setDeviceMetricsOverride", width=1200, height=1500, deviceScaleFactor=1, mobile=False)
    browser.open(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(ARTIFACTS / f"{name}.png")
    return browser.text()


def test_the_launch_page_shows_a_running_a_rolled_back_and_a_succeeded_launch(
    stack: Any, api: ControllerApi, browser: Chromium
) -> None:
    # The bake's last checkpoint far off: the launch bakes until the alarm, however long the pictures take (a
    # busy machine's screenshot outlasted the local profile's 4 s bake, and the launch succeeded first).
    use_profile(stack, bake=stack.profile.bake.model_copy(update={"checkpoints": [2, 60]}))
    launch_id = start(stack, api, next_version())
    approve_all(stack, api, launch_id)
    baking = wait(
        api,
        launch_id,
        lambda item: (
            bool((item.get("results") or {}).get("bake", {}).get("checkpoints")) or item["status"] != "BAKING"
            if item["status"] == "BAKING"
            else item["status"] not in {"REQUESTED", "PREFLIGHT", "AWAITING_APPROVAL", "DEPLOYING", "VERIFYING"}
        ),
    )
    assert baking["status"] == "BAKING", baking["timeline"]
    url = api.view_link(launch_id)["url"]
    running = _shoot(browser, url, "running")
    for shown in (
        "BAKING",
        "refreshes every 5 s",
        "Pause the refresh",
        "Bake",
        "watching",
        "T+2s",
        "Sign-off",
        "approved",
    ):
        assert shown in running, shown
    assert browser.run("document.querySelectorAll('svg polyline').length") >= 1  # the figures, charted
    assert browser.run("document.querySelector('meta[http-equiv=refresh]') !== null")

    stack.set_alarm(stack.profile.bake.alarm_names[0], "ALARM")
    assert wait(api, launch_id)["status"] == "ROLLED_BACK"
    rolled_back = _shoot(browser, url, "rolled-back")
    for shown in ("ROLLED_BACK", "BakeBreached", "Rollback", "undone", "frontend", "backend", "took"):
        assert shown in rolled_back, shown
    assert browser.run("document.querySelector('meta[http-equiv=refresh]') === null")  # it has ended

    stack.set_alarm(stack.profile.bake.alarm_names[0], "OK")  # the breach is over
    use_profile(stack)  # and the bake as short as the local profile has it
    succeeded = run_approved(stack, api, next_version())
    assert succeeded["status"] == "SUCCEEDED", succeeded["timeline"]
    page = _shoot(browser, api.view_link(succeeded["launch_id"])["url"], "succeeded")
    for shown in ("SUCCEEDED", "healthy", "T+4s", "Preflight", "checks passed"):
        assert shown in page, shown

    listing = _shoot(browser, api.view_link(environment="local")["url"], "list")
    assert launch_id in listing
    assert succeeded["launch_id"] in listing
    # The list's link to a launch opens that launch's page.
    browser.click_and_wait(f"a[href*='{launch_id}']")
    assert "BakeBreached" in browser.text()
