"""Bad input is a 4xx, always: nested bodies, long ids, broken headers, loose tokens, repeated and racing requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.api.request_input import json_depth
from chalicelib.platform.links import ForgedLink, sign, verify
from tests.conftest import LAUNCH_BODY as BODY
from tests.conftest import Site, race

LAUNCH = "local-20990101-000000-000000"
RILEY = "riley.release@acme.example"
# The security headers every page of the approval routes carries.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _post(client: Any, path: str, body: bytes | str, content_type: str = "application/json") -> Any:
    return client.http.post(path, headers={"Content-Type": content_type}, body=body)


JSON_ROUTES = [
    "/launches",
    f"/launches/{LAUNCH}/approvals",
    f"/launches/{LAUNCH}/abort",
    f"/launches/{LAUNCH}/rollback",
    "/environments/local/unlock",
]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("body", ["[" * 2048, '{"a":' * 1000 + "1" + "}" * 1000, "\xff\xfe", "null", "  "])
def test_a_body_that_is_not_a_shallow_json_object_is_a_400_on_body(client: Any, path: str, body: str) -> None:
    answer = _post(client.as_person(RILEY), path, body.encode("latin-1"))
    assert answer.status_code == 400, answer.body
    assert answer.json_body["error"]["fields"][0]["field"] == "body"


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth('{"a": ["[[[[", {"b": "}}"}]}') == 3
    assert json_depth('"\\"[["') == 0


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/launches/" + "a" * 3000, "launch_id"),
        ("/launches/" + "a" * 3000 + "/abort", "launch_id"),
        ("/launches/UPPER-case-id", "launch_id"),
    ],
)
def test_a_path_id_longer_or_other_than_aws_allows_is_a_400_naming_it(client: Any, path: str, field: str) -> None:
    method = "POST" if path.endswith("abort") else "GET"
    answer = client.http.request(
        method, path, headers={"Content-Type": "application/json"}, body=json.dumps({"reason": "a reason"})
    )
    assert answer.status_code == 400, answer.body
    assert answer.json_body["error"]["fields"][0]["field"] == field


def test_an_artifact_longer_than_an_s3_key_is_a_400_naming_it(client: Any) -> None:
    long_prefix = "s3://acme-artifacts-local/" + "é" * 600 + "/"  # 1,227 bytes, 627 characters
    answer = _post(client, "/launches", json.dumps({**BODY, "frontend_artifact": long_prefix}))
    assert answer.status_code == 400
    assert answer.json_body["error"]["fields"][0]["field"] == "frontend_artifact"


def test_an_attestation_longer_than_any_id_is_a_400(client: Any) -> None:
    body = {"role": "qa_lead", "decision": "approve", "attestations": ["x" * 5000]}
    answer = _post(client.as_person("quinn.qa@acme.example"), f"/launches/{LAUNCH}/approvals", json.dumps(body))
    assert answer.status_code == 400


# -- the approval routes answer pages, always with their headers ------------------------------------------


def _assert_page(answer: Any, status: int) -> None:
    assert answer.status_code == status, answer.body
    assert answer.headers["Content-Type"].startswith("text/html")
    for name, value in PAGE_HEADERS.items():
        assert answer.headers[name] == value, name
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


def test_every_refusal_of_the_approval_routes_is_a_page_with_its_headers(site: Site) -> None:
    link = site.path("tess.lead@acme.example")
    path = link.split("?")[0]
    form = "application/x-www-form-urlencoded"
    _assert_page(site.http.post(path, headers={"Content-Type": form}, body="a=1&" * 60), 400)
    _assert_page(site.http.post(path, headers={"Content-Type": form}, body="a=" + "x" * 70_000), 413)
    _assert_page(site.http.post(path, headers={"Content-Type": "application/json"}, body="{}"), 415)
    _assert_page(site.http.get("/approve/" + "0" * 32 + "?token=x"), 404)
    _assert_page(site.http.get("/approve/" + "a" * 3000 + "?token=x"), 400)
    _assert_page(site.http.get(path + "?token=" + "x" * 5000), 400)
    _assert_page(site.open("tess.lead@acme.example"), 200)


def test_a_server_fault_on_the_approval_page_is_still_a_page_with_its_headers(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api.pages import approval as approval_page

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("DynamoDB is having a day")

    monkeypatch.setattr(approval_page, "show", broken)
    _assert_page(site.open("tess.lead@acme.example"), 500)


@pytest.mark.parametrize("origin", ["http://[", "https://[::1", "null", "https://evil.example", "file://", None])
def test_a_malformed_foreign_or_missing_origin_on_the_form_is_a_403(site: Site, origin: str | None) -> None:
    page = site.open("tess.lead@acme.example")
    import re

    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.body.decode()))
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    fields = [*hidden.items(), *(("attest", a) for a in ["code_freeze", "rollback_plan", "on_call", "runbooks"])]
    headers = {} if origin is None else {"Origin": origin}
    answer = site.post("tess.lead@acme.example", [*fields, ("decision", "approve")], cookie, **headers)
    _assert_page(answer, 403)
    assert site.store.approvals(site.launch.launch_id) == []


def test_a_malformed_cookie_header_is_refused_not_a_fault(site: Site) -> None:
    answer = site.post(
        "tess.lead@acme.example", [("decision", "approve")], 'a="\\x; ===; \x00', Origin="https://api.example"
    )
    _assert_page(answer, 403)


def test_the_form_posts_to_its_own_url_and_the_cookie_keeps_the_stage_path(site: Site) -> None:
    from chalicelib.api.pages.approval import show

    request = site.store.approval_requests(site.launch.launch_id)[0]
    approver = request.approvers[0]
    token = sign(site.key, request.approval_id, approver, int(request.expires_at.timestamp()))
    page = show(site.store, request.approval_id, token, site.key, page_path=f"/api/approve/{request.approval_id}")
    # Relative: posted to /api/approve/<id> from the stage, /approve/<id> from the root, /x/approve/<id> ...
    assert f'action="{request.approval_id}"' in page.html
    assert f"Path=/api/approve/{request.approval_id};" in page.headers["Set-Cookie"]
    unknown_path = show(site.store, request.approval_id, token, site.key, page_path=None)
    assert "Path=" not in unknown_path.headers["Set-Cookie"]  # the browser's default: the page's directory


# -- link tokens have exactly one spelling ----------------------------------------------------------------


KEY = b"k" * 32
APPROVAL = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda approver, expiry, mac: f"{approver}.{expiry}.{mac}=",  # padding
        lambda approver, expiry, mac: f"{approver}.{expiry}.{mac[:10]}!{mac[10:]}",  # junk base64 skips
        lambda approver, expiry, mac: f"{approver}.{expiry}.{mac[:10]}\n{mac[10:]}",
        lambda approver, expiry, mac: f"{approver}.{expiry}.{mac.replace('-', '+').replace('_', '/')}",
        lambda approver, expiry, mac: f"{approver}. {expiry}.{mac}",  # int() ignores the space
        lambda approver, expiry, mac: f"{approver}.+{expiry}.{mac}",
        lambda approver, expiry, mac: f"{approver}.{expiry[:3]}_{expiry[3:]}.{mac}",  # int() takes 1_000
        lambda approver, expiry, mac: f"{approver}.0{expiry}.{mac}",
    ],
)
def test_a_token_in_any_but_its_one_canonical_spelling_is_refused(mangle: Any) -> None:
    expiry = 4_102_444_800
    approver, expires, mac = sign(KEY, APPROVAL, "tess.lead@acme.example", expiry).split(".")
    assert verify(KEY, APPROVAL, f"{approver}.{expires}.{mac}").approver == "tess.lead@acme.example"
    with pytest.raises(ForgedLink):
        verify(KEY, APPROVAL, mangle(approver, expires, mac))


def test_a_signature_with_stray_trailing_bits_is_refused() -> None:
    import base64

    approver, expires, mac = sign(KEY, APPROVAL, "tess.lead@acme.example", 4_102_444_800).split(".")
    raw = base64.urlsafe_b64decode(mac + "=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes leave 2 unused bits in the last character: set them, the bytes decode the same.
    stray = mac[:-1] + alphabet[alphabet.index(mac[-1]) | 1]
    assert base64.urlsafe_b64decode(stray + "=") == raw
    with pytest.raises(ForgedLink):
        verify(KEY, APPROVAL, f"{approver}.{expires}.{stray}")


# -- decisions after expiry, repeated aborts, lost races ---------------------------------------------------


def test_a_decision_through_the_api_after_the_request_expired_is_a_410(site: Site, client: Any, clock: Any) -> None:
    clock.advance(timedelta(days=2).total_seconds())
    body = {"role": "qa_lead", "decision": "approve", "attestations": ["code_freeze"]}
    answer = _post(
        client.as_person("quinn.qa@acme.example"), f"/launches/{site.launch.launch_id}/approvals", json.dumps(body)
    )
    assert answer.status_code == 410, answer.json_body
    assert answer.json_body["error"]["code"] == "approval_expired"


def test_a_decision_after_the_gate_expired_and_the_launch_ended_is_still_a_410(site: Site, client: Any) -> None:
    from chalicelib.domain.models import LaunchStatus
    from chalicelib.stages.approval_gate import expire_requests

    expire_requests(site.store, site.launch.launch_id)
    site.store.set_status(site.launch.launch_id, LaunchStatus.EXPIRED)
    body = {"role": "qa_lead", "decision": "approve", "attestations": []}
    answer = _post(
        client.as_person("quinn.qa@acme.example"), f"/launches/{site.launch.launch_id}/approvals", json.dumps(body)
    )
    assert answer.status_code == 410


def test_repeated_and_concurrent_aborts_write_one_event_and_answer_with_the_first_reason(
    client: Any, store: Any
) -> None:
    launch_id = _post(client, "/launches", json.dumps(BODY)).json_body["launch_id"]
    riley = client.as_person(RILEY)
    riley.http.get("/launches")  # sign in once before the race (the token is made lazily)
    answers = race(
        [
            lambda reason=reason: _post(riley, f"/launches/{launch_id}/abort", json.dumps({"reason": reason}))
            for reason in ("first reason", "second reason", "third reason", "fourth reason")
        ]
    )
    assert [answer.status_code for answer in answers] == [202] * 4
    recorded = store.get_launch(launch_id).abort["reason"]
    assert {answer.json_body["abort"]["reason"] for answer in answers} == {recorded}
    assert sum(not answer.json_body["already_requested"] for answer in answers) == 1
    events = [event for event in store.timeline(launch_id) if event.kind == "abort_requested"]
    assert len(events) == 1
    again = _post(riley, f"/launches/{launch_id}/abort", json.dumps({"reason": "once more, later"}))
    assert (again.status_code, again.json_body["abort"]["reason"]) == (202, recorded)
    assert len([event for event in store.timeline(launch_id) if event.kind == "abort_requested"]) == 1


def test_starts_that_lose_the_race_for_the_lock_leave_no_launch_behind(client: Any, store: Any) -> None:
    answers = race([lambda: _post(client, "/launches", json.dumps(BODY)) for _ in range(4)])
    assert sorted(answer.status_code for answer in answers) == [202, 409, 409, 409]
    listed = client.http.get("/launches").json_body["launches"]
    [winner] = [answer.json_body["launch_id"] for answer in answers if answer.status_code == 202]
    assert [launch["launch_id"] for launch in listed] == [winner]
    assert store.lock_holder("local") == winner


def test_a_repeated_abort_still_releases_a_gate_the_first_one_did_not(site: Site, client: Any) -> None:
    launch_id = site.launch.launch_id
    # A first request that was cut off after it was recorded, before it released the gate.
    first = {"aborted_by": RILEY, "reason": "wrong build", "at": "t"}
    assert site.store.request_abort(launch_id, first, site.store.event("abort_requested", "asked")) is None
    assert {request.state for request in site.store.approval_requests(launch_id)} == {"open"}
    again = _post(client.as_person(RILEY), f"/launches/{launch_id}/abort", json.dumps({"reason": "still wrong"}))
    assert again.status_code == 202
    assert (again.json_body["already_requested"], again.json_body["abort"]["reason"]) == (True, "wrong build")
    assert {request.state for request in site.store.approval_requests(launch_id)} == {"closed"}
    assert [event.kind for event in site.store.timeline(launch_id)].count("abort_requested") == 1


@pytest.mark.parametrize(
    ("promote_from", "said"),
    [
        ("Staging Launch!", "a launch id"),
        ("staging-20261201-000000-aaaaaa", "local takes no promotions"),
    ],
)
def test_naming_a_launch_to_promote_from_where_the_profile_takes_none_or_in_no_launch_id_is_a_400(
    client: Any, promote_from: str, said: str
) -> None:
    answer = _post(client, "/launches", json.dumps({**BODY, "promote_from": promote_from}))
    assert answer.status_code == 400
    problem = answer.json_body["error"]["fields"][0]
    assert problem["field"] == "promote_from"
    assert said in problem["reason"] or said in answer.json_body["error"]["message"]


def test_a_promotion_must_name_an_existing_launch_into_the_environment_promoted_from(store: Any) -> None:
    from chalicelib.api.launches import promoted_for
    from chalicelib.domain.errors import BadRequest
    from chalicelib.domain.models import Launch, LaunchStatus
    from tests.conftest import make_request, unit_profile

    production = unit_profile("production")
    with pytest.raises(BadRequest, match="no launch local-20261201-000000-aaaaaa"):
        promoted_for(store, production, "local-20261201-000000-aaaaaa")
    moment = datetime.now(UTC)
    elsewhere = Launch(
        launch_id="local-20261201-000000-aaaaaa",
        request=make_request(environment="local"),
        status=LaunchStatus.REQUESTED,
        created_at=moment,
        updated_at=moment,
    )
    store.create_launch(elsewhere)
    with pytest.raises(BadRequest, match="launched into local; production takes releases launched into staging"):
        promoted_for(store, production, elsewhere.launch_id)
