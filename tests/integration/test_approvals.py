"""Approvals on the local stack: emailed links, the page in a real browser, quorum, rejection and expiry."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from localaws.browser import Chromium
from localaws.inbox import decide_by_link, open_link

from launchctl.client import ControllerApi, is_final
from tests.integration.helpers import APPROVERS, decide, next_version, snapshot, start, wait

pytestmark = pytest.mark.integration


def at_gate(stack: Any, api: ControllerApi) -> str:
    launch_id = start(stack, api, next_version())
    launch = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert launch["status"] == "AWAITING_APPROVAL", launch["timeline"]
    return launch_id


def inbox(stack: Any, launch_id: str) -> list[dict[str, Any]]:
    return [mail for mail in stack.outbox() if mail["launch_id"] == launch_id]


def link_for(stack: Any, launch_id: str, role: str) -> str:
    return next(m["link"] for m in inbox(stack, launch_id) if m["role"] == role and m["to"] == APPROVERS[role])


def test_each_approver_receives_only_their_own_links(stack: Any, api: ControllerApi) -> None:
    from chalicelib.platform.links import signing_key, verify
    from chalicelib.platform.settings import settings

    launch_id = at_gate(stack, api)
    key = signing_key(stack.client("secretsmanager"), settings().approval_key_secret_id)
    mails = inbox(stack, launch_id)
    expected = {email for emails in stack.profile.approvals.approvers.values() for email in emails}
    assert sorted(mail["to"] for mail in mails) == sorted(expected)  # one email each, nobody twice
    for mail in mails:
        parts = urlsplit(mail["link"])
        holder = verify(key, parts.path.rsplit("/", 1)[1], parse_qs(parts.query)["token"][0])
        assert holder.approver == mail["to"]
        # The release's own tests, each with its result and its run's link on GitHub.
        assert "The release's checks on its commit:\n  - build: success (http://" in mail["body"]
        assert "  - e2e-tests: success (" in mail["body"]
    api_view = api.get(launch_id)
    assert {request["role"]: request["state"] for request in api_view["approval_requests"]} == {
        "tech_lead": "open",
        "product_manager": "open",
        "qa_lead": "open",
    }
    assert len([e for e in api_view["timeline"] if e["kind"] == "approval_email"]) == len(expected)
    decide(stack, launch_id, "qa_lead", "reject", "only testing the emails")
    wait(api, launch_id)


def test_three_approvals_by_link_lead_to_deployment_with_the_signoff_record(stack: Any, api: ControllerApi) -> None:
    launch_id = at_gate(stack, api)
    for role in ("tech_lead", "product_manager", "qa_lead"):
        answer = decide_by_link(link_for(stack, launch_id, role))
        assert answer.status == 200, answer.text
    launch = wait(api, launch_id)
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    signoff = launch["results"]["approvals"]["signoff"]
    assert [(line["role"], line["approver"], line["via"]) for line in signoff] == [
        (role, APPROVERS[role], "link") for role in ("tech_lead", "product_manager", "qa_lead")
    ]
    assert all(len(line["attestations"]) == 4 for line in signoff)
    assert {request["state"] for request in launch["approval_requests"]} == {"approved"}
    assert any(event["kind"] == "signed_off" for event in launch["timeline"])
    # The second approver of a role finds the request decided.
    other = next(m["link"] for m in inbox(stack, launch_id) if m["to"] == "quentin.qa@acme.example")
    used, _ = open_link(other)
    assert used.status == 409
    assert f"{APPROVERS['qa_lead']} approved qa_lead at" in used.text


def test_a_rejection_by_link_changes_nothing_and_closes_the_other_links(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launch_id = at_gate(stack, api)
    assert decide_by_link(link_for(stack, launch_id, "tech_lead")).status == 200
    answer = decide_by_link(link_for(stack, launch_id, "qa_lead"), "reject", "checkout regression in 2.x")
    assert answer.status == 200
    launch = wait(api, launch_id)
    assert launch["status"] == "REJECTED"
    assert "checkout regression" in launch["error"]["cause"]
    assert launch["rollback_point"] is None
    assert snapshot(stack) == before
    states = {request["role"]: request["state"] for request in launch["approval_requests"]}
    assert states == {"tech_lead": "approved", "qa_lead": "rejected", "product_manager": "closed"}
    closed, _ = open_link(link_for(stack, launch_id, "product_manager"))
    assert closed.status == 409


# Long enough that the gate's own step (which the window includes: it counts from the state's entry, as on
# AWS) has opened the gate before it times out, on a loaded machine too; it once took 3.3 s under CI's load.
SHORT_WINDOW_SECONDS = 12


@pytest.fixture
def short_approval_window(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Approval requests open for SHORT_WINDOW_SECONDS instead of the local profile's 10 minutes: the profile
    a launch starts with, which it keeps."""
    from chalicelib.api import launches

    real = launches.current_profile

    def short(environment: str, **kwargs: Any) -> Any:
        stored = real(environment, **kwargs)
        approvals = stored.profile.approvals.model_copy(update={"timeout_seconds": SHORT_WINDOW_SECONDS})
        return stored.model_copy(update={"profile": stored.profile.model_copy(update={"approvals": approvals})})

    monkeypatch.setattr(launches, "current_profile", short)


def test_an_expired_approval_changes_nothing_and_its_links_say_so(
    stack: Any, api: ControllerApi, short_approval_window: None
) -> None:
    before = snapshot(stack)
    # A look at the launch may come after its requests expired, so the test does not try to catch it at
    # the gate; the launch's own record shows the approvers were asked.
    launch_id = start(stack, api, next_version())
    launch = wait(api, launch_id, timeout=SHORT_WINDOW_SECONDS + 60)
    assert launch["status"] == "EXPIRED", launch["timeline"]
    assert "approval_requested" in [event["kind"] for event in launch["timeline"]], launch["timeline"]
    assert snapshot(stack) == before
    assert {request["state"] for request in launch["approval_requests"]} == {"expired"}
    expired, _ = open_link(link_for(stack, launch_id, "tech_lead"))
    assert expired.status == 410


def test_an_approver_approves_in_a_real_browser_and_a_mere_visit_changes_nothing(
    stack: Any, api: ControllerApi, browser: Chromium, tmp_path: Path
) -> None:
    launch_id = at_gate(stack, api)
    link = link_for(stack, launch_id, "tech_lead")
    # The deployed URL shape: the API Gateway stage path, which the page's form and cookie must keep.
    assert urlsplit(link).path.startswith("/api/approve/")
    browser.open(link)
    page = browser.text()
    assert "Sign off" in page
    assert "Code freeze confirmed" in page
    # Opening the link is what a mail scanner does too: the request stays open.
    browser.open(link)
    states = {r["role"]: r["state"] for r in api.get(launch_id)["approval_requests"]}
    assert states["tech_lead"] == "open"
    # Ticking three of four boxes is refused; ticking all four approves.
    browser.run("[...document.querySelectorAll('input[name=attest]')].slice(0, 3).forEach(b => b.click())")
    browser.click_and_wait("button[value=approve]")
    assert "Confirm first" in browser.text()
    browser.open(link)
    browser.run("document.querySelectorAll('input[name=attest]').forEach(b => b.click())")
    browser.click_and_wait("button[value=approve]")
    result = browser.text()
    browser.screenshot(tmp_path / "approved.png")
    assert "You approved" in result
    assert (tmp_path / "approved.png").stat().st_size > 1000
    states = {r["role"]: r["state"] for r in api.get(launch_id)["approval_requests"]}
    assert states["tech_lead"] == "approved"
    decide(stack, launch_id, "qa_lead", "reject", "browser test done")
    wait(api, launch_id)
