"""The launch's read-only page and an environment's list: opened only by a signed, unexpired view link."""

from __future__ import annotations

import re
import time
from typing import Any

from chalicelib.platform.links import sign_view
from tests.conftest import Site


def _token(site: Site, subject: str, expires: int | None = None) -> str:
    return sign_view(site.key, subject, expires or int(time.time()) + 600)


def test_the_page_shows_the_launch_its_checklist_and_who_is_asked_and_refreshes_while_it_runs(site: Site) -> None:
    launch_id = site.launch.launch_id
    page = site.http.get(f"/view/launches/{launch_id}?token={_token(site, f'launch:{launch_id}')}")
    assert page.status_code == 200
    text = page.body.decode()
    for shown in (launch_id, "1.1.0", "AWAITING_APPROVAL", "Infrastructure checks", "Sign-off", "tech_lead", "waiting"):
        assert shown in text, shown
    assert '<meta http-equiv="refresh" content="5">' in text
    assert "<script" not in text
    headers = page.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_forged_expired_or_another_launchs_link_opens_nothing(site: Site) -> None:
    launch_id = site.launch.launch_id
    forged = sign_view(b"another key entirely, 32 bytes long!", f"launch:{launch_id}", int(time.time()) + 600)
    expired = _token(site, f"launch:{launch_id}", int(time.time()) - 1)
    others = _token(site, "launch:local-20261128-000000-ffffff")
    approval_link_token = site.links["tess.lead@acme.example"].split("token=", 1)[1]
    answers = {
        "forged": site.http.get(f"/view/launches/{launch_id}?token={forged}").status_code,
        "expired": site.http.get(f"/view/launches/{launch_id}?token={expired}").status_code,
        "another launch's": site.http.get(f"/view/launches/{launch_id}?token={others}").status_code,
        "an approval link's": site.http.get(f"/view/launches/{launch_id}?token={approval_link_token}").status_code,
        "none": site.http.get(f"/view/launches/{launch_id}").status_code,
        "an environment's": site.http.get(
            f"/view/launches/{launch_id}?token={_token(site, 'environment:local')}"
        ).status_code,
    }
    assert answers == {
        "forged": 403,
        "expired": 410,
        "another launch's": 403,
        "an approval link's": 403,
        "none": 403,
        "an environment's": 403,
    }
    unknown = "local-20261128-000000-ffffff"
    assert site.http.get(f"/view/launches/{unknown}?token={others}").status_code == 404
    assert site.http.get(f"/view/launches/..%2Fetc?token={others}").status_code == 400


def test_the_list_page_links_each_launch_with_a_link_that_opens_it(site: Site) -> None:
    page = site.http.get(f"/view/environments/local?token={_token(site, 'environment:local')}")
    assert page.status_code == 200
    [href] = [link for link in re.findall(r"href='([^']+)'", page.body.decode()) if "/view/launches/" in link]
    assert href.startswith(f"/view/launches/{site.launch.launch_id}?token=")
    assert site.http.get(href).status_code == 200
    assert site.http.get(f"/view/environments/local?token={_token(site, 'environment:staging')}").status_code == 403


def test_a_reader_gets_a_view_link_and_a_stranger_does_not(site: Site, people: Any) -> None:
    from chalice.test import Client

    from app import app
    from tests.conftest import CallerClient

    with Client(app) as test_client:
        reader = CallerClient(test_client, lambda: f"Bearer {people.issuer.issue()}", people)
        answer = reader.get(f"/launches/{site.launch.launch_id}/view-link")
        assert answer.status_code == 200, answer.body
        url = answer.json_body["url"]
        assert url.startswith(f"https://api.example/view/launches/{site.launch.launch_id}?token=")
        assert site.http.get(url.removeprefix("https://api.example")).status_code == 200
        listed = reader.get("/environments/local/view-link").json_body["url"]
        assert site.http.get(listed.removeprefix("https://api.example")).status_code == 200
        assert reader.anonymous().get(f"/launches/{site.launch.launch_id}/view-link").status_code == 401
        assert reader.get("/launches/local-20261128-000000-ffffff/view-link").status_code == 404


def test_the_list_says_why_each_launch_ended_and_what_is_live(site: Site) -> None:
    from chalicelib.domain.models import LaunchStatus

    launch_id = site.launch.launch_id
    error = {"error": "ApprovalRejected", "cause": "qa_lead rejected: checkout regression on Safari"}
    site.store.set_status(launch_id, LaunchStatus.REJECTED, error=error)
    page = site.http.get(f"/view/environments/local?token={_token(site, 'environment:local')}").body.decode()
    assert "ApprovalRejected: qa_lead rejected: checkout regression on Safari" in page
    assert "Took" in page
    assert "live now" not in page  # nothing succeeded here yet
    assert site.store.causes([launch_id, "local-20261128-000000-ffffff"]) == {launch_id: error}
