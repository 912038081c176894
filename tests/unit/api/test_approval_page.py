"""The emailed link's page through the Chalice app: GET shows and changes nothing, the form's POST decides."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from chalicelib.platform.links import sign
from tests.conftest import Site

ALL = ["code_freeze", "rollback_plan", "on_call", "runbooks"]


def test_opening_a_link_shows_the_launch_and_the_attestations_and_changes_nothing(site: Site) -> None:
    page = site.open("tess.lead@acme.example")
    assert page.status_code == 200
    text = page.body.decode()
    for shown in ("1.1.0", "riley.release@acme.example", "tech_lead", "Code freeze confirmed"):
        assert shown in text
    assert text.count('type="checkbox" name="attest"') == 4
    assert {"HttpOnly", "SameSite=Strict"} <= {part.strip() for part in page.headers["Set-Cookie"].split(";")}
    assert page.headers["Cache-Control"] == "no-store"
    site.open("tess.lead@acme.example")  # a mail scanner fetching it again
    assert site.store.approvals(site.launch.launch_id) == []
    assert {r.state for r in site.store.approval_requests(site.launch.launch_id)} == {"open"}


def test_the_form_approves_and_the_used_link_then_says_so(site: Site) -> None:
    answer = site.submit("tess.lead@acme.example")
    assert answer.status_code == 200
    assert "You approved" in answer.body.decode()
    [approval] = site.store.approvals(site.launch.launch_id)
    assert (approval.role, approval.via, approval.attestations) == ("tech_lead", "link", ALL)
    again = site.open("tess.lead@acme.example")  # re-opening your own link: what you did, not an error
    assert again.status_code == 200
    assert "You approved this as tech_lead at" in again.body.decode()
    assert "notice idle" in again.body.decode()


def test_a_rejection_needs_a_reason_and_stops_the_launch(site: Site) -> None:
    refused = site.submit("quinn.qa@acme.example", "reject", attest=[])
    assert refused.status_code == 400
    assert "A rejection needs a comment saying why" in refused.body.decode()
    answer = site.submit("quinn.qa@acme.example", "reject", attest=[], comment="checkout is broken")
    assert answer.status_code == 200
    assert "nothing is deployed" in answer.body.decode()
    closed = site.open("pat.pm@acme.example")
    assert closed.status_code == 409
    assert "qa_lead rejected" in closed.body.decode()


def test_approving_without_every_attestation_is_refused(site: Site) -> None:
    answer = site.submit("tess.lead@acme.example", attest=ALL[:2])
    assert answer.status_code == 400
    assert "On-call schedule set" in answer.body.decode()
    assert site.store.approvals(site.launch.launch_id) == []


def test_a_forged_or_altered_link_is_refused_and_touches_nothing(site: Site) -> None:
    approval_id = urlsplit(site.links["tess.lead@acme.example"]).path.rsplit("/", 1)[1]
    forged = sign(b"another key entirely, 32 bytes long!", approval_id, "tess.lead@acme.example", 4_000_000_000)
    assert site.http.get(f"/approve/{approval_id}?token={forged}").status_code == 403
    theirs = urlsplit(site.links["pat.pm@acme.example"]).query  # pat's token on tess's request
    assert site.http.get(f"/approve/{approval_id}?{theirs}").status_code == 403
    assert site.http.get("/approve/" + "0" * 32 + "?token=x").status_code == 404
    assert site.store.approvals(site.launch.launch_id) == []


def test_an_expired_link_says_so(site: Site, clock: Any) -> None:
    clock.advance(timedelta(days=2).total_seconds())
    answer = site.open("tess.lead@acme.example")
    assert answer.status_code == 410
    assert "expired" in answer.body.decode()


def test_a_form_without_its_cookie_or_from_another_site_is_refused(site: Site) -> None:
    page = site.open("tess.lead@acme.example")
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.body.decode()))
    fields = [*hidden.items(), *(("attest", a) for a in ALL), ("decision", "approve")]
    assert site.post("tess.lead@acme.example", fields, cookie=None).status_code == 403
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    forged = site.post("tess.lead@acme.example", fields, cookie, Origin="https://evil.example")
    assert forged.status_code == 403
    assert site.store.approvals(site.launch.launch_id) == []


def test_the_page_shows_what_goes_live_the_other_sign_offs_and_when_it_closes(site: Site) -> None:
    assert site.submit("quinn.qa@acme.example", comment="checked checkout on Safari").status_code == 200
    text = site.open("tess.lead@acme.example").body.decode()
    for shown in (
        site.launch.request.backend_image,
        site.launch.request.frontend_artifact,
        "migrated first by the task",
        "closes in",
        "qa_lead: approved by quinn.qa@acme.example",
        "checked checkout on Safari",
        f"../view/launches/{site.launch.launch_id}?token=",
    ):
        assert shown in text, shown


def test_a_role_decided_by_another_approver_is_said_plainly_not_as_an_error(site: Site) -> None:
    assert site.submit("quinn.qa@acme.example").status_code == 200
    page = site.open("quentin.qa@acme.example").body.decode()
    assert "Already decided" in page
    assert "quinn.qa@acme.example approved qa_lead at" in page
    assert "notice idle" in page


def test_an_aborted_launch_says_who_aborted_it_and_why(site: Site) -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.models import LaunchStatus

    launch_id = site.launch.launch_id
    abort = {
        "aborted_by": "riley.release@acme.example",
        "reason": "wrong artifact",
        "at": datetime.now(UTC).isoformat(),
    }
    site.store.request_abort(launch_id, abort, site.store.event("abort_requested", "abort asked", None))
    site.store.set_status(launch_id, LaunchStatus.ABORTED)
    page = site.open("tess.lead@acme.example").body.decode()
    assert "The launch was aborted by riley.release@acme.example: wrong artifact." in page
    assert "notice idle" in page


def test_the_page_shows_what_is_live_against_what_goes_live_and_the_commits_between(site: Site) -> None:
    from chalicelib.domain.models import Stage
    from chalicelib.domain.progress import Commit, PreflightProgress, ReleaseChanges

    changes = ReleaseChanges(
        live_launch_id="local-20261101-000000-aaaaaa",
        live_version="1.0.0",
        live_image="210987654321.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.0.0",
        live_image_digest="sha256:" + "a" * 64,
        live_task_definition="acme-api:41",
        image=site.launch.request.backend_image,
        image_digest="sha256:" + "b" * 64,
        site_added=3,
        site_changed=2,
        site_removed=1,
        site_unchanged=40,
        commits_total=57,
        commits=[Commit(sha="c" * 40, title="Fix the pay button on Safari", author="Riley")],
        compare_url="https://github.com/acme/shop/compare/1a2b...abcd",
    )
    preflight = PreflightProgress(checks=[], passed=True, summary="0/0 checks passed", changes=changes)
    site.store.write_progress(
        site.store.get_launch(site.launch.launch_id), progress=preflight, kept_under=Stage.PREFLIGHT
    )
    text = site.open("tess.lead@acme.example").body.decode()
    for shown in (
        "What changes",
        "live: 210987654321.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.0.0 (acme-api:41)",
        "3 objects added, 2 changed, 1 removed (40 unchanged); live now: 1.0.0 (local-20261101-000000-aaaaaa)",
        "57 since 1.0.0",
        "Fix the pay button on Safari",
        "and 56 older",
        "https://github.com/acme/shop/compare/1a2b...abcd",
    ):
        assert shown in text, shown
