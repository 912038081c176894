"""The evidence's offline check: a chain of digests over the timeline, and a signed head."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.evidence_chain import EVIDENCE_FORMAT, GENESIS, SealStatement, event_digest, verify

LAUNCH = "production-20261204-000000-abcdef"


def chain(launch_id: str, count: int) -> list[dict[str, Any]]:
    entries, previous = [], GENESIS
    for number in range(1, count + 1):
        event = {"at": f"2026-12-04T00:00:{number:02d}Z", "kind": "stage", "message": f"step {number}", "details": {}}
        digest = event_digest(launch_id, number, previous, event)
        entries.append({"sequence": number, "event": event, "previous": previous, "digest": digest})
        previous = digest
    return entries


def sealed(
    timeline: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey, through: int | None = None
) -> dict[str, Any]:
    last = timeline[(through or len(timeline)) - 1]
    statement = SealStatement(
        launch_id=LAUNCH, sequence=last["sequence"], head=last["digest"], sealed_at=datetime(2026, 12, 4, tzinfo=UTC)
    )
    signature = key.sign(statement.message(), ec.ECDSA(hashes.SHA256()))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "statement": statement.model_dump(mode="json"),
        "key_arn": "arn:aws:kms:eu-west-1:111111111111:key/evidence",
        "signature": base64.b64encode(signature).decode(),
        "public_key": base64.b64encode(public).decode(),
    }


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def document(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    timeline = chain(LAUNCH, 6)
    return {
        "format": EVIDENCE_FORMAT,
        "launch_id": LAUNCH,
        "timeline": timeline,
        "head": {"sequence": 6, "digest": timeline[-1]["digest"]},
        "seal": sealed(timeline, key),
    }


def test_an_untouched_sealed_record_verifies_through_its_last_event(document: dict[str, Any]) -> None:
    found = verify(document)
    assert found.ok, found.problem
    assert (found.chained, found.sealed_through, found.key_pinned) == (6, 6, False)
    assert any("--public-key" in note for note in found.notes)


def test_an_edited_event_fails_at_exactly_that_event(document: dict[str, Any]) -> None:
    document["timeline"][3]["event"]["message"] = "step 4, as someone wished it had gone"
    found = verify(document)
    assert found.problem is not None
    assert found.problem.sequence == 4
    assert "changed" in found.problem.reason


def test_a_deleted_event_fails_where_it_was(document: dict[str, Any]) -> None:
    del document["timeline"][2]
    found = verify(document)
    assert found.problem is not None
    assert (found.problem.sequence, found.problem.reason) == (3, "event 3 is missing: deleted from the timeline")


def test_two_events_swapped_fail_at_the_first_of_them(document: dict[str, Any]) -> None:
    timeline = document["timeline"]
    # Swapped as a hand in DynamoDB would: each item keeps its number, the contents trade places.
    for field in ("event", "previous", "digest"):
        timeline[1][field], timeline[2][field] = timeline[2][field], timeline[1][field]
    found = verify(document)
    assert found.problem is not None
    assert found.problem.sequence == 2


def test_a_chain_rewritten_consistently_from_an_edit_fails_at_the_seal(document: dict[str, Any]) -> None:
    rewritten = chain(LAUNCH, 6)
    rewritten[4]["event"]["message"] = "rewritten"
    previous = rewritten[3]["digest"]
    for entry in rewritten[4:]:
        entry["previous"] = previous
        entry["digest"] = previous = event_digest(LAUNCH, entry["sequence"], previous, entry["event"])
    document["timeline"] = rewritten
    document["head"] = {"sequence": 6, "digest": previous}
    found = verify(document)
    assert found.problem is not None
    assert found.problem.sequence == 6
    assert "not the one signed" in found.problem.reason


def test_events_deleted_from_the_end_fail_against_the_head_and_the_seal(document: dict[str, Any]) -> None:
    document["timeline"] = document["timeline"][:4]
    found = verify(document)
    assert found.problem is not None
    assert found.problem.sequence == 5
    document["head"] = {"sequence": 4, "digest": document["timeline"][-1]["digest"]}
    found = verify(document)
    assert found.problem is not None
    assert found.problem.sequence == 5
    assert "seal covers events to 6" in found.problem.reason


def test_a_seal_from_another_key_fails_against_the_pinned_key(
    document: dict[str, Any], key: ec.EllipticCurvePrivateKey
) -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    document["seal"] = sealed(document["timeline"], forger)
    assert verify(document).ok  # it holds for the key the document carries...
    pinned = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    found = verify(document, public_key=pinned)  # ...not for the controller's
    assert found.problem is not None
    assert "signature does not hold" in found.problem.reason
    document["seal"] = sealed(document["timeline"], key)
    assert verify(document, public_key=pinned).key_pinned


def test_events_after_the_seal_are_chained_and_said_to_be_unsigned(
    document: dict[str, Any], key: ec.EllipticCurvePrivateKey
) -> None:
    document["seal"] = sealed(document["timeline"], key, through=5)
    found = verify(document)
    assert found.ok, found.problem
    assert found.sealed_through == 5
    assert "events 6 to 6 came after the seal: chained, not signed" in found.notes


def test_an_unsealed_record_verifies_its_chain_and_says_it_is_unsealed(document: dict[str, Any]) -> None:
    document["seal"] = None
    found = verify(document)
    assert found.ok
    assert found.notes == ["not sealed: the launch had not ended, or ended before evidence was signed"]


def test_the_digest_binds_an_event_to_its_launch_and_its_place() -> None:
    event = {"kind": "stage", "message": "m"}
    digests = {
        event_digest(LAUNCH, 1, GENESIS, event),
        event_digest("staging-20261204-000000-abcdef", 1, GENESIS, event),
        event_digest(LAUNCH, 2, GENESIS, event),
        event_digest(LAUNCH, 1, "1" * 64, event),
    }
    assert len(digests) == 4


def test_a_document_that_is_not_evidence_is_refused_as_such(document: dict[str, Any]) -> None:
    other = copy.deepcopy(document)
    other["format"] = "something-else"
    found = verify(other)
    assert found.problem is not None
    assert "not a launch's evidence" in found.problem.reason
