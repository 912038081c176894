"""A launch's evidence in the table: each event chained as it is written, the end sealed with the evidence key,
and a hand's edit in DynamoDB found at exactly the event it touched."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.api.launches import launch_evidence as evidence_document
from chalicelib.domain.evidence_chain import verify
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from tests.conftest import TABLE, make_request, move_to, race


@pytest.fixture
def evidence_key(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The controller's evidence key, as the template makes it: asymmetric, for signing only."""
    from chalicelib.platform.settings import settings

    key = aws("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("EVIDENCE_KEY_ID", key)
    settings.cache_clear()
    return str(key)


def public_key_of(aws: Any) -> Any:
    return lambda key_arn: aws("kms").get_public_key(KeyId=key_arn)["PublicKey"]


def finished(aws: Any, store: Any, launch: Launch, run_stage: Any) -> dict[str, Any]:
    """The launch walked to SUCCEEDED by its stages' writes, and its evidence as the API answers it."""
    move_to(store, launch.launch_id, LaunchStatus.BAKING)
    store.append_event(launch.launch_id, "checkpoint", "bake checkpoint 1 of 4: healthy", Stage.BAKE)
    run_stage("finish_launch", launch.launch_id, outcome="succeeded")
    return evidence_document(store, launch.launch_id, public_key_of(aws))


def event_item(aws: Any, launch_id: str, sequence: int) -> dict[str, Any]:
    key = {"pk": {"S": f"LAUNCH#{launch_id}"}, "sk": {"S": f"EVENT#{sequence:010d}"}}
    return dict(aws("dynamodb").get_item(TableName=TABLE, Key=key)["Item"])


def test_every_event_is_chained_to_the_one_before_in_the_write_that_makes_it(store: Any, launch: Launch) -> None:
    move_to(store, launch.launch_id, LaunchStatus.DEPLOYING)
    store.append_event(launch.launch_id, "note", "one", Stage.BACKEND)
    document = evidence_document(store, launch.launch_id, lambda key: None)
    found = verify(document)
    assert found.ok, found.problem
    assert found.chained == len(document["timeline"]) == document["head"]["sequence"]
    assert document["head"]["digest"] == document["timeline"][-1]["digest"]
    assert found.notes == ["not sealed: the launch had not ended, or ended before evidence was signed"]


def test_writers_racing_for_the_timeline_leave_one_unbroken_chain(store: Any, launch: Launch) -> None:
    outcomes = race([lambda i=i: store.append_event(launch.launch_id, "note", f"writer {i}") for i in range(6)])
    assert not [o for o in outcomes if isinstance(o, Exception)]
    found = verify(evidence_document(store, launch.launch_id, lambda key: None))
    assert found.ok, found.problem
    assert found.chained == 6


def test_a_rollbacks_claim_continues_the_chain_of_the_launch_it_undoes(store: Any, launch: Launch) -> None:
    move_to(store, launch.launch_id, LaunchStatus.BAKING)
    store.set_status(launch.launch_id, LaunchStatus.SUCCEEDED)
    moment = datetime.now(UTC)
    rollback = Launch(
        launch_id="local-20261128-000001-fedcba",
        request=make_request(),
        status=LaunchStatus.REQUESTED,
        created_at=moment,
        updated_at=moment,
        rollback_of={"launch_id": launch.launch_id, "requested_by": "r@x", "reason": "why", "at": moment.isoformat()},
    )
    claim = store.event("rollback_requested", "r@x asked to roll back")
    store.create_launch(
        rollback, [store.event("requested", "rollback requested")], rollback_of=(launch.launch_id, claim)
    )
    for launch_id in (launch.launch_id, rollback.launch_id):
        found = verify(evidence_document(store, launch_id, lambda key: None))
        assert found.ok, found.problem


def test_the_end_seals_the_head_with_the_evidence_key_and_a_pinned_key_verifies_it(
    aws: Any, store: Any, launch: Launch, run_stage: Any, evidence_key: str
) -> None:
    document = finished(aws, store, launch, run_stage)
    seal = document["seal"]
    assert seal["key_arn"] == evidence_key
    assert seal["statement"]["sequence"] == document["head"]["sequence"]
    pinned = aws("kms").get_public_key(KeyId=evidence_key)["PublicKey"]
    found = verify(json.loads(json.dumps(document)), public_key=pinned)
    assert found.ok, found.problem
    assert (found.sealed_through, found.key_pinned) == (document["head"]["sequence"], True)
    assert document["approvals"] == []
    assert document["profile_version"] == 1
    # A retried end keeps the seal it made; it does not sign again.
    run_stage("finish_launch", launch.launch_id, outcome="succeeded")
    assert store.get_launch(launch.launch_id).seal.model_dump(mode="json") == {**seal, "public_key": None}


@pytest.mark.parametrize("edit", ["changed", "deleted", "swapped"])
def test_a_timeline_edited_by_hand_in_dynamodb_fails_at_exactly_that_event(
    aws: Any, store: Any, launch: Launch, run_stage: Any, evidence_key: str, edit: str
) -> None:
    finished(aws, store, launch, run_stage)
    db, target = aws("dynamodb"), 3
    item = event_item(aws, launch.launch_id, target)
    if edit == "changed":
        event = json.loads(item["event"]["S"])
        event["message"] = event["message"] + " (as it should have gone)"
        db.put_item(TableName=TABLE, Item={**item, "event": {"S": json.dumps(event)}})
    elif edit == "deleted":
        db.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    else:
        after = event_item(aws, launch.launch_id, target + 1)
        db.put_item(TableName=TABLE, Item={**after, "sk": item["sk"]})
        db.put_item(TableName=TABLE, Item={**item, "sk": after["sk"]})
    found = verify(evidence_document(store, launch.launch_id, public_key_of(aws)))
    assert found.problem is not None
    assert found.problem.sequence == target, found.problem


def test_a_launch_ends_when_kms_refuses_to_sign_and_its_evidence_says_it_is_unsealed(
    aws: Any, store: Any, launch: Launch, run_stage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.platform.settings import settings

    monkeypatch.setenv("EVIDENCE_KEY_ID", "alias/no-such-key")
    settings.cache_clear()
    move_to(store, launch.launch_id, LaunchStatus.BAKING)
    assert run_stage("finish_launch", launch.launch_id, outcome="succeeded")["status"] == "SUCCEEDED"
    found = verify(evidence_document(store, launch.launch_id, public_key_of(aws)))
    assert found.ok
    assert found.sealed_through is None
    assert "not sealed" in found.notes[0]


def test_the_evidence_route_answers_the_document_an_unknown_launch_404_and_a_bad_id_400(
    aws: Any, store: Any, launch: Launch, run_stage: Any, evidence_key: str, client: Any
) -> None:
    finished(aws, store, launch, run_stage)
    answer = client.http.get(f"/launches/{launch.launch_id}/evidence")
    assert answer.status_code == 200
    document = answer.json_body
    assert verify(document, public_key=aws("kms").get_public_key(KeyId=evidence_key)["PublicKey"]).ok
    # The emailed links' ids stay private: the requests are shown as the launch's reader sees them.
    assert all("approval_id" not in request for request in document["approval_requests"])
    missing = client.http.get("/launches/local-20990101-000000-000000/evidence")
    assert (missing.status_code, missing.json_body["error"]["code"]) == (404, "launch_not_found")
    bad = client.http.get("/launches/not a launch/evidence")
    assert bad.status_code == 400
