"""What `make demo` runs: its scenarios end as the demo says they do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from localaws.demo import Scenario, run_scenarios

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "launch-page"


def test_the_demo_scenarios_end_as_expected(stack: Any, capsys: pytest.CaptureFixture[str], browser: Any) -> None:
    scenarios = [
        # The demo's health-check failure is test_launches' failed smoke test and its alarm during the bake is
        # test_events'; these two are the demo's own.
        Scenario("healthy", "7.1.0", "SUCCEEDED"),
        Scenario("dashboard data broken", "7.4.0", "ROLLED_BACK", broken_journey=True),
        # Last before the promotion, as in the demo: its errors must not count in the promoted release's bake.
        Scenario("flaky, all at once", "7.6.0", "ROLLED_BACK", flaky=True),
    ]
    assert run_scenarios(stack, scenarios)
    out = capsys.readouterr().out
    passed = "demo passed: 7.1.0 SUCCEEDED, 7.4.0 ROLLED_BACK, 7.6.0 ROLLED_BACK; promoted: BLOCKED (another image)"
    assert f"{passed}, SUCCEEDED" in out
    # The healthy release promoted to the production-like environment: another image under its name is
    # blocked naming both digests; the same release passes, the record keeping where it came from.
    blocked = re.search(
        r"BLOCKED; release\.promoted_from .*image digest here: (sha256:\w+); image digest in local: (sha256:\w+)", out
    )
    assert blocked is not None
    assert blocked[1] != blocked[2]
    assert re.search(
        r"SUCCEEDED; promoted from local launch local-\S+ \(chain: local-\S+ -> local-production-\S+\)", out
    )
    assert "FunctionalTestFailed: canary acme-local-journeys run " in out
    assert "failed: dashboard data: the orders did not load (the API answered 500)" in out
    # The approval email shows the release's own tests, each with its link.
    assert "[every approval email lists the release's checks on its commit]" in out
    assert re.search(r"e2e-tests: success \(http://127\.0\.0\.1:\d+/acme/shop/actions/runs/\d+\)", out)
    # The sign-offs arrive by email and are given through the links.
    for approver in ("tess.lead@acme.example", "pat.pm@acme.example", "quinn.qa@acme.example"):
        assert f"[email to {approver}]" in out
        assert f"[{approver} opened the link, ticked the attestations, approved] 200" in out
    assert "the homepage says 'Acme 7.1.0'" in out
    # Each launch's evidence holds against the evidence key, and an edit is found at its event.
    assert len(re.findall(r"events chained, sealed through \d+: holds", out)) == 5
    assert "the same with event 3's message edited: its content does not match its digest" in out
    # Across accounts: the controller in one, the environment in another, reached through its role.
    assert "the controller runs in account 123456789012; the environment 'local' is in account 210987654321" in out
    # Each launch's page, as the demo prints its link, renders in a real browser (kept in out/launch-page/).
    pages = re.findall(r"launch page \(read-only, signed, 7 days\): (\S+)", out)
    assert len(pages) == len(scenarios)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.send("Emulation.setDeviceMetricsOverride", width=1200, height=1500, deviceScaleFactor=1, mobile=False)
    for page, status in zip(pages[:2], ("SUCCEEDED", "ROLLED_BACK"), strict=True):
        browser.open(page)
        assert status in browser.text()
        browser.screenshot(ARTIFACTS / f"demo-{status.lower().replace('_', '-')}.png")
