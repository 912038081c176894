"""The HTTP API through Chalice's test client, with moto behind it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client
from localaws.infrastructure import backend_image

BODY = {
    "environment": "local",
    "version": "1.1.0",
    "git_sha": "abcdef1",
    "frontend_artifact": "s3://acme-artifacts-local/releases/1.1.0/",
    "backend_image": backend_image("1.1.0"),
}


def _post(client: Client, path: str, body: Any) -> Any:
    return client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(body))


def test_a_launch_request_is_accepted_and_started(client: Client, aws: Any) -> None:
    response = _post(client, "/launches", BODY)
    assert response.status_code == 202
    launch_id = response.json_body["launch_id"]
    assert response.headers["Location"] == f"/launches/{launch_id}"
    [execution] = aws("stepfunctions").list_executions(stateMachineArn=_machine(aws))["executions"]
    assert execution["name"] == launch_id
    shown = client.http.get(f"/launches/{launch_id}").json_body
    assert shown["status"] == "REQUESTED"
    assert shown["timeline"][0]["kind"] == "requested"


def _machine(aws: Any) -> str:
    return aws("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]


def test_a_bad_field_is_a_400_that_names_it(client: Client) -> None:
    response = _post(client, "/launches", BODY | {"git_sha": "zzz"})
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_request"
    assert response.json_body["error"]["fields"][0]["field"] == "git_sha"


def test_an_unknown_environment_is_a_400_on_the_environment_field(client: Client) -> None:
    response = _post(client, "/launches", BODY | {"environment": "mars"})
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "environment"


def test_a_frontend_from_outside_the_environments_artifact_bucket_is_a_400_and_starts_nothing(
    client: Client, aws: Any
) -> None:
    """The frontend goes to the public site: one from any other bucket (a private one, say) never starts."""
    for artifact in ("s3://acme-private-data/exports/", "s3://acme-artifacts-local-evil/releases/1.2.0/"):
        response = _post(client, "/launches", BODY | {"frontend_artifact": artifact})
        assert response.status_code == 400
        [problem] = response.json_body["error"]["fields"]
        assert problem["field"] == "frontend_artifact"
        assert "s3://acme-artifacts-local/" in problem["reason"]
    assert aws("stepfunctions").list_executions(stateMachineArn=_machine(aws))["executions"] == []
    preflight = client.http.get("/environments/local/preflight?frontend_artifact=s3://acme-private-data/x/")
    assert preflight.status_code == 400


def test_a_body_that_is_not_an_object_is_a_400(client: Client) -> None:
    assert _post(client, "/launches", ["a", "list"]).status_code == 400


def test_a_second_launch_into_a_held_environment_is_a_409_naming_the_first(client: Client) -> None:
    first = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(client, "/launches", BODY)
    assert response.status_code == 409
    assert response.json_body["error"]["running_launch_id"] == first


def test_an_unknown_launch_is_a_404(client: Client) -> None:
    response = client.http.get("/launches/local-20990101-000000-000000")
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "launch_not_found"


def test_launches_list_newest_first_with_a_checked_limit(client: Client, store: Any) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    assert [item["launch_id"] for item in client.http.get("/launches").json_body["launches"]] == [launch_id]
    response = client.http.get("/launches?limit=0")
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "limit"


def test_a_decision_on_a_launch_not_at_the_gate_is_a_409(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(
        client.as_person("quinn.qa@acme.example"),
        f"/launches/{launch_id}/approvals",
        {"role": "qa_lead", "decision": "approve"},
    )
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "not_awaiting_approval"


def test_a_malformed_decision_is_a_400(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(
        client.as_person("quinn.qa@acme.example"),
        f"/launches/{launch_id}/approvals",
        {"role": "qa_lead", "decision": "maybe", "approver": "quinn.qa@acme.example"},
    )
    assert response.status_code == 400
    # Who decides is the verified caller; a body that names someone is refused, not believed.
    assert {field["field"] for field in response.json_body["error"]["fields"]} == {"approver", "decision"}


def test_a_workflow_token_cannot_decide_on_a_launch(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(client, f"/launches/{launch_id}/approvals", {"role": "qa_lead", "decision": "approve"})
    assert response.status_code == 403
    assert "person's AWS identity" in response.json_body["error"]["message"]


RILEY = "riley.release@acme.example"


def test_unlocking_an_environment_nobody_holds_is_a_404(client: Client) -> None:
    response = _post(client.as_person(RILEY), "/environments/local/unlock", {"reason": "nothing to undo here"})
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "not_locked"


def test_unlocking_during_a_running_launch_is_a_409(client: Client) -> None:
    _post(client, "/launches", BODY)
    response = _post(client.as_person(RILEY), "/environments/local/unlock", {"reason": "I want to go first"})
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "launch_still_running"


def test_an_unlock_without_a_reason_is_a_400_naming_it(client: Client) -> None:
    response = _post(client.as_person(RILEY), "/environments/local/unlock", {"reason": "ok"})
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "reason"


def test_unlocking_needs_a_person_the_profile_allows(client: Client) -> None:
    by_workflow = _post(client, "/environments/local/unlock", {"reason": "a job should never unlock"})
    assert by_workflow.status_code == 403
    by_approver = _post(client.as_person("tess.lead@acme.example"), "/environments/local/unlock", {"reason": "x" * 12})
    assert by_approver.status_code == 403


def test_aborting_a_running_launch_is_accepted_and_recorded(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(client.as_person(RILEY), f"/launches/{launch_id}/abort", {"reason": "wrong build"})
    assert response.status_code == 202
    assert response.json_body["then"] == "ends ABORTED with nothing changed"
    shown = client.http.get(f"/launches/{launch_id}").json_body
    assert shown["abort"]["aborted_by"] == RILEY
    assert shown["timeline"][-1]["kind"] == "abort_requested"


def test_aborting_needs_a_reason_and_a_launch_that_exists(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    bad = _post(client, f"/launches/{launch_id}/abort", {"aborted_by": "sam"})
    assert bad.status_code == 400
    assert {field["field"] for field in bad.json_body["error"]["fields"]} == {"aborted_by", "reason"}
    missing = _post(client, "/launches/local-20990101-000000-000000/abort", {"reason": "gone!"})
    assert missing.status_code == 404


def test_aborting_an_ended_launch_is_a_409(client: Client, store: Any) -> None:
    from chalicelib.domain.models import LaunchStatus

    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    store.set_status(launch_id, LaunchStatus.FAILED)
    response = _post(client, f"/launches/{launch_id}/abort", {"reason": "too late"})
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "launch_ended"


def test_launches_are_listed_by_page_with_a_cursor_and_filters(client: Client, store: Any) -> None:
    from chalicelib.domain.models import LaunchStatus

    first = _post(client, "/launches", BODY).json_body["launch_id"]
    store.set_status(first, LaunchStatus.FAILED)
    store.release_lock("local", first)
    second = _post(client, "/launches", BODY).json_body["launch_id"]
    page = client.http.get("/launches?limit=1").json_body
    assert [item["launch_id"] for item in page["launches"]] == [second]
    rest = client.http.get(f"/launches?limit=1&cursor={page['next_cursor']}").json_body
    assert [item["launch_id"] for item in rest["launches"]] == [first]
    failed = client.http.get("/launches?environment=local&status=FAILED").json_body
    assert [item["launch_id"] for item in failed["launches"]] == [first]
    assert failed["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"), [("status=LOST", "status"), ("cursor=bm9wZQ", "cursor"), ("colour=red", "colour")]
)
def test_a_bad_list_query_is_a_400_naming_the_parameter(client: Client, query: str, field: str) -> None:
    response = client.http.get(f"/launches?{query}")
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == field


def _post_keyed(client: Client, body: Any, key: str) -> Any:
    return client.http.post(
        "/launches", headers={"Content-Type": "application/json", "Idempotency-Key": key}, body=json.dumps(body)
    )


def test_the_same_idempotency_key_returns_the_same_launch(client: Client, aws: Any) -> None:
    first = _post_keyed(client, BODY, "gh-run-4242-attempt-1")
    again = _post_keyed(client, BODY, "gh-run-4242-attempt-1")
    assert first.status_code == again.status_code == 202
    assert again.json_body["launch_id"] == first.json_body["launch_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(aws("stepfunctions").list_executions(stateMachineArn=_machine(aws))["executions"]) == 1


def test_an_idempotency_key_reused_for_another_request_is_a_409(client: Client) -> None:
    _post_keyed(client, BODY, "gh-run-4243-attempt-1")
    other = _post_keyed(client, {**BODY, "version": "1.2.0"}, "gh-run-4243-attempt-1")
    assert other.status_code == 409
    assert other.json_body["error"]["code"] == "idempotency_key_reused"


def test_a_refused_start_does_not_use_up_its_key(client: Client, store: Any) -> None:
    holder = _post(client, "/launches", BODY).json_body["launch_id"]
    assert _post_keyed(client, BODY, "gh-run-4244-attempt-1").status_code == 409  # environment locked
    store.release_lock("local", holder)
    assert _post_keyed(client, BODY, "gh-run-4244-attempt-1").status_code == 202


def test_two_concurrent_starts_on_one_environment_let_exactly_one_proceed(client: Client, aws: Any) -> None:
    import threading

    answers: list[int] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        answers.append(_post(client, "/launches", BODY).status_code)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202, 409, 409, 409]
    assert len(aws("stepfunctions").list_executions(stateMachineArn=_machine(aws))["executions"]) == 1


# -- who may call ----------------------------------------------------------------------------------


def test_the_requester_is_the_verified_caller_never_the_body(client: Client) -> None:
    refused = _post(client, "/launches", BODY | {"requested_by": "someone.else@acme.example"})
    assert refused.status_code == 400, refused.body
    assert refused.json_body["error"]["fields"][0]["field"] == "requested_by"
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    shown = client.http.get(f"/launches/{launch_id}").json_body
    assert shown["requested_by"] == "github:acme/shop"
    assert shown["caller"]["kind"] == "github"
    assert shown["caller"]["subject"] == "repo:acme/shop:environment:local"
    assert shown["caller"]["claims"]["run_id"] == "9000001"
    assert shown["timeline"][0]["message"].startswith("github:acme/shop asked to launch 1.1.0")


def test_an_engineer_signed_in_with_iam_starts_a_launch_as_themselves(client: Client) -> None:
    response = _post(client.as_person(RILEY), "/launches", BODY)
    assert response.status_code == 202
    shown = client.http.get(f"/launches/{response.json_body['launch_id']}").json_body
    assert shown["requested_by"] == RILEY
    assert shown["caller"]["subject"] == f"arn:aws:iam::123456789012:user/{RILEY}"


@pytest.mark.parametrize(
    ("path", "method"),
    [("/launches", "POST"), ("/launches", "GET"), ("/launches/local-20990101-000000-000000", "GET")],
)
def test_a_call_without_a_credential_is_a_401(client: Client, path: str, method: str) -> None:
    response = client.anonymous().request(method, path, headers={"Content-Type": "application/json"}, body="{}")
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "unauthenticated"


def test_a_job_of_another_repository_is_a_403(client: Client) -> None:
    response = _post(client.as_github(repository="mallory/shop"), "/launches", BODY)
    assert response.status_code == 403
    assert response.json_body["error"]["code"] == "forbidden"
    assert client.as_github(repository="mallory/shop").http.get("/launches").status_code == 403


def test_an_approver_may_read_launches_but_not_start_them(client: Client) -> None:
    tess = client.as_person("tess.lead@acme.example")
    assert tess.http.get("/launches").status_code == 200
    assert _post(tess, "/launches", BODY).status_code == 403


def test_a_stranger_signed_in_with_iam_is_a_403(client: Client) -> None:
    response = client.as_person("mallory@acme.example").http.get("/launches")
    assert response.status_code == 403


def test_idempotency_keys_belong_to_their_caller(client: Client, store: Any) -> None:
    first = _post_keyed(client, BODY, "shared-key-1")
    store.release_lock("local", first.json_body["launch_id"])
    other = _post_keyed(client.as_person(RILEY), BODY, "shared-key-1")
    assert other.status_code == 202
    assert other.json_body["launch_id"] != first.json_body["launch_id"]


# -- rollback on request ---------------------------------------------------------------------------


def _succeeded(client: Client, store: Any) -> str:
    """A launch started through the API, walked to SUCCEEDED with a rollback point and its changes."""
    from datetime import UTC, datetime

    from chalicelib.domain.models import Change, LaunchStatus, RollbackPoint

    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    store.record_rollback_point(
        launch_id,
        RollbackPoint(task_definition_arn="arn:td/acme-api:1", site_versions={}, recorded_at=datetime.now(UTC)),
    )
    store.record_change(launch_id, Change.BACKEND)
    for status in ("PREFLIGHT", "AWAITING_APPROVAL", "DEPLOYING", "VERIFYING", "BAKING", "SUCCEEDED"):
        store.set_status(launch_id, LaunchStatus(status))
    store.release_lock("local", launch_id)
    return launch_id


def test_a_rollback_of_a_launch_that_succeeded_starts_its_own_execution(client: Client, store: Any, aws: Any) -> None:
    launch_id = _succeeded(client, store)
    response = _post(client.as_person(RILEY), f"/launches/{launch_id}/rollback", {"reason": "checkout errors"})
    assert response.status_code == 202
    rollback_id = response.json_body["launch_id"]
    assert rollback_id != launch_id
    assert response.headers["Location"] == f"/launches/{rollback_id}"
    executions = aws("stepfunctions").list_executions(stateMachineArn=_machine(aws))["executions"]
    assert rollback_id in {execution["name"] for execution in executions}
    assert response.json_body["requested_by"] == RILEY
    assert response.json_body["caller"]["claims"]["Arn"] == f"arn:aws:iam::123456789012:user/{RILEY}"
    rollback = client.http.get(f"/launches/{rollback_id}").json_body
    assert rollback["rollback_of"]["launch_id"] == launch_id
    assert rollback["rollback_of"]["caller"]["person"] == RILEY
    claim = next(
        event
        for event in client.http.get(f"/launches/{launch_id}").json_body["timeline"]
        if event["kind"] == "rollback_requested"
    )
    assert claim["details"]["caller"]["claims"]["Account"] == "123456789012"
    assert rollback["changes"] == ["backend"]
    assert rollback["rollback_point"]["task_definition_arn"] == "arn:td/acme-api:1"
    assert store.lock_holder("local") == rollback_id
    assert client.http.get(f"/launches/{launch_id}").json_body["rolled_back_by"] == rollback_id


def test_only_a_launch_that_succeeded_can_be_rolled_back(client: Client) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    response = _post(client, f"/launches/{launch_id}/rollback", {"reason": "still running"})
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "not_rollbackable"


def test_a_launch_keeps_its_profile_and_a_rollback_of_it_undoes_in_the_places_that_profile_named(
    client: Client, store: Any, aws: Any
) -> None:
    """Recorded at the start, shown by version only; a requested rollback follows the launch's own profile
    even after a newer one was pushed (its site bucket moved, say)."""
    from chalicelib.platform.profile_store import push_profile, stored_version

    launch_id = _succeeded(client, store)
    started_with = stored_version(aws("ssm"), "local")
    assert store.get_launch(launch_id).profile == started_with.profile
    shown = client.http.get(f"/launches/{launch_id}").json_body
    assert shown["profile_version"] == started_with.version
    assert "profile" not in shown
    profile = started_with.profile
    moved = push_profile(
        aws("ssm"),
        profile.model_copy(update={"frontend": profile.frontend.model_copy(update={"site_bucket": "moved"})}),
    )
    response = _post(client.as_person(RILEY), f"/launches/{launch_id}/rollback", {"reason": "checkout errors"})
    assert response.status_code == 202
    rollback = store.get_launch(response.json_body["launch_id"])
    assert rollback.profile == started_with.profile
    assert rollback.profile_version == started_with.version != moved.version


def test_a_rollback_after_the_profiles_window_is_refused(client: Client, store: Any, clock: Any) -> None:
    launch_id = _succeeded(client, store)
    clock.advance(2 * 24 * 3600)
    response = _post(client, f"/launches/{launch_id}/rollback", {"reason": "too late now"})
    assert response.status_code == 409
    assert "window closed" in response.json_body["error"]["message"]


def test_a_launch_superseded_by_a_later_success_is_not_rolled_back(client: Client, store: Any) -> None:
    first = _succeeded(client, store)
    second = _succeeded(client, store)
    response = _post(client, f"/launches/{first}/rollback", {"reason": "the older one"})
    assert response.status_code == 409
    assert second in response.json_body["error"]["message"]


def test_a_rollback_needs_a_caller_the_profile_allows(client: Client, store: Any) -> None:
    launch_id = _succeeded(client, store)
    response = _post(client.as_person("tess.lead@acme.example"), f"/launches/{launch_id}/rollback", {"reason": "x" * 6})
    assert response.status_code == 403


def test_a_running_rollback_cannot_be_aborted(client: Client, store: Any) -> None:
    launch_id = _succeeded(client, store)
    rollback_id = _post(client, f"/launches/{launch_id}/rollback", {"reason": "checkout errors"}).json_body["launch_id"]
    response = _post(client, f"/launches/{rollback_id}/abort", {"reason": "changed my mind"})
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "not_rollbackable"


# -- the lock's lease --------------------------------------------------------------------------------


def _expire_lease(aws: Any, environment: str = "local") -> None:
    aws("dynamodb").update_item(
        TableName="launch-controller-test",
        Key={"pk": {"S": f"LOCK#{environment}"}, "sk": {"S": "LOCK"}},
        UpdateExpression="SET lease_expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00.000000+00:00"}},
    )


def test_a_lock_whose_lease_ran_out_is_not_taken_while_its_execution_runs(client: Client, aws: Any) -> None:
    running = _post(client, "/launches", BODY).json_body["launch_id"]
    sfn = aws("stepfunctions")
    # The test's one-state machine has already ended; give the holder an execution that still runs.
    waiting = sfn.create_state_machine(
        name="waits",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    alive = sfn.start_execution(stateMachineArn=waiting, name="alive")["executionArn"]
    from chalicelib.platform.wiring import launch_store

    launch_store().set_execution(running, alive)
    _expire_lease(aws)
    refused = _post(client, "/launches", BODY)
    assert refused.status_code == 409
    assert refused.json_body["error"]["running_launch_id"] == running
    assert "still running" in refused.json_body["error"]["held_because"]

    sfn.stop_execution(executionArn=alive)
    taken = _post(client, "/launches", BODY)
    assert taken.status_code == 202
    stale = client.http.get(f"/launches/{running}").json_body
    assert stale["timeline"][-1]["kind"] == "lock_taken_over"
    assert "ended ABORTED" in stale["timeline"][-1]["message"]


# -- preflight without a launch --------------------------------------------------------------------------


def test_preflight_of_an_environment_answers_the_report_without_a_launch(client: Client, environment: Any) -> None:
    from localaws.infrastructure import publish_release

    artifact = publish_release(environment, "1.1.0")
    response = client.http.get(f"/environments/local/preflight?frontend_artifact={artifact}")
    assert response.status_code == 200
    report = response.json_body
    by_id = {check["id"]: check for check in report["checks"]}
    assert by_id["app.bundle_budget"]["result"] == "pass"
    assert by_id["app.image_in_ecr"]["result"] == "skipped"
    # No notifications topic is configured in this test: a check that cannot read is a failure, never a pass.
    assert by_id["monitoring.notifications_subscribed"]["result"] == "fail"
    assert client.http.get("/launches").json_body["launches"] == []


def test_preflight_needs_a_caller_of_the_environment_and_a_known_one(client: Client) -> None:
    assert client.as_github(repository="mallory/shop").http.get("/environments/local/preflight").status_code == 403
    unknown = client.http.get("/environments/mars/preflight")
    assert (unknown.status_code, unknown.json_body["error"]["fields"][0]["field"]) == (400, "environment")


def test_concurrent_rollbacks_of_one_launch_start_one_and_leave_nothing_else(client: Client, store: Any) -> None:
    from tests.conftest import race

    launch_id = _succeeded(client, store)
    riley = client.as_person(RILEY)
    riley.http.get("/launches")  # sign in once before the race
    answers = race(
        [lambda: _post(riley, f"/launches/{launch_id}/rollback", {"reason": "checkout errors"}) for _ in range(3)]
    )
    assert sorted(answer.status_code for answer in answers) == [202, 409, 409]
    [started] = [answer.json_body["launch_id"] for answer in answers if answer.status_code == 202]
    listed = {launch["launch_id"] for launch in client.http.get("/launches").json_body["launches"]}
    assert listed == {launch_id, started}
    assert store.get_launch(launch_id).rolled_back_by == started
    timeline = client.http.get(f"/launches/{launch_id}").json_body["timeline"]
    assert [event["kind"] for event in timeline].count("rollback_requested") == 1


def test_a_bad_stored_profile_answers_profile_invalid_naming_its_version_until_a_valid_one_is_pushed(
    client: Client, aws: Any
) -> None:
    from chalicelib.platform.profile_store import parameter_name, push_profile
    from tests.conftest import unit_profile

    bad = aws("ssm").put_parameter(Name=parameter_name("local"), Value="{cut short", Type="String", Overwrite=True)
    refused = _post(client, "/launches", BODY)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (503, "profile_invalid")
    assert f"version {bad['Version']}: not valid JSON" in refused.json_body["error"]["message"]
    assert client.http.get("/launches").status_code == 200  # the other environments' profiles still read
    push_profile(aws("ssm"), unit_profile("local"))
    assert _post(client, "/launches", BODY).status_code == 202  # a start reads the newest version at once


def test_listing_an_environment_that_does_not_exist_says_so_rather_than_no_launches(client: Client) -> None:
    response = client.http.get("/launches?environment=nope")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "unknown_environment"
    assert "no environment named 'nope'; known: local" in response.json_body["error"]["message"]
    assert client.http.get("/launches?environment=local").json_body["launches"] == []


def test_whoami_names_the_verified_caller_and_what_they_may_do_where(client: Client) -> None:
    tess = client.as_person("tess.lead@acme.example").http.get("/me").json_body
    assert tess["caller"]["kind"] == "iam"
    assert tess["environments"] == [
        {"environment": "local", "person": "tess.lead@acme.example", "may_launch": False, "approves": ["tech_lead"]}
    ]
    assert client.as_person("mallory@acme.example").http.get("/me").json_body["environments"] == []
    assert client.anonymous().http.get("/me").status_code == 401


def test_a_listed_launch_names_who_started_it(client: Client) -> None:
    _post(client, "/launches", BODY)
    listed = client.http.get("/launches").json_body["launches"][0]
    assert listed["requested_by"].startswith("github:")
