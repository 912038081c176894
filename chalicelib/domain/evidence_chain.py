"""A launch's evidence: the hash chain over its timeline, the signed seal of its end, and their offline check."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, Field

# What the first event of a launch follows.
GENESIS = "0" * 64
EVIDENCE_FORMAT: Final = "launch-evidence/1"
SIGNING_ALGORITHM = "ECDSA_SHA_256"


def canonical(value: Any) -> str:
    """One text for one JSON value, whoever serialised it: the text the digests and the signature are over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_digest(launch_id: str, sequence: int, previous: str, event: dict[str, Any]) -> str:
    """The SHA-256 of an event's content with its place: its launch, its number and the digest it follows.

    Its number and its launch are in it, so an event moved to another place or launch no longer matches."""
    content = canonical({"launch_id": launch_id, "sequence": sequence, "previous": previous, "event": event})
    return hashlib.sha256(content.encode()).hexdigest()


class ChainedEvent(BaseModel):
    """One timeline event as the evidence carries it: its number, its content, and its place in the chain."""

    sequence: int
    event: dict[str, Any]
    previous: str | None = Field(default=None, description="the digest of the event before (None: written unchained)")
    digest: str | None = Field(default=None, description="event_digest of this event (None: written unchained)")


class SealStatement(BaseModel):
    """What the end of a launch signs: the chain's head at its end."""

    launch_id: str
    sequence: int = Field(description="the number of the last event the seal covers")
    head: str = Field(description="that event's digest")
    sealed_at: datetime

    def message(self) -> bytes:
        return canonical(self.model_dump(mode="json")).encode()


class Seal(BaseModel):
    """The head of a launch's chain signed with a KMS key only the functions that end launches may use."""

    statement: SealStatement
    key_arn: str = Field(description="the KMS key that signed it")
    algorithm: str = SIGNING_ALGORITHM
    signature: str = Field(description="the signature over the statement's canonical JSON, base64 (DER)")
    public_key: str | None = Field(
        default=None, description="the key's public half, base64 (DER SubjectPublicKeyInfo), as KMS gives it"
    )


class Problem(BaseModel):
    """The first place the evidence does not hold."""

    sequence: int | None = Field(description="the event it is at (None: the seal or the document)")
    reason: str


class Verification(BaseModel):
    """What `verify` found: the chain checked, how far the seal covers it, and the first problem."""

    launch_id: str
    events: int
    chained: int = Field(description="how many events the chain covers")
    sealed_through: int | None = Field(default=None, description="the last event the checked signature covers")
    key_pinned: bool = Field(default=False, description="the signature was checked against a key given apart")
    problem: Problem | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(document: dict[str, Any], public_key: bytes | None = None) -> Verification:
    """Check a launch's evidence offline: each event's digest against its content, each event against the one
    before, the record's head against the last, and the seal's signature against the chain's head.

    `public_key` (DER or PEM) pins the key the seal must be signed with; without it the key the document
    carries is used, which proves the chain was sealed but not by whom (a note says so)."""
    launch_id = str(document.get("launch_id", ""))
    timeline = [ChainedEvent.model_validate(entry) for entry in document.get("timeline", [])]
    found = Verification(launch_id=launch_id, events=len(timeline), chained=0)
    if document.get("format") != EVIDENCE_FORMAT:
        found.problem = Problem(sequence=None, reason=f"not a launch's evidence (format {document.get('format')!r})")
        return found
    problem, chained = _walk(launch_id, timeline)
    found.chained = chained
    if problem is not None:
        found.problem = problem
        return found
    digests = {entry.sequence: entry.digest for entry in timeline}
    last = timeline[-1].sequence if timeline else 0
    head = document.get("head") or {}
    if head and (head.get("sequence") != last or (head.get("digest") and head.get("digest") != digests.get(last))):
        found.problem = Problem(
            sequence=last + 1 if head.get("sequence", 0) > last else last,
            reason=f"the launch's record says its timeline ends at event {head.get('sequence')}, "
            f"but the evidence ends at event {last}: events were deleted from its end",
        )
        return found
    seal = Seal.model_validate(document["seal"]) if document.get("seal") else None
    if seal is None:
        found.notes.append("not sealed: the launch had not ended, or ended before evidence was signed")
        return found
    found.problem = _check_seal(launch_id, seal, digests, last, public_key, found)
    return found


def _walk(launch_id: str, timeline: list[ChainedEvent]) -> tuple[Problem | None, int]:
    """The first event that breaks the chain, and how many events are chained."""
    previous: str | None = None
    expected = 1
    chained = 0
    for entry in timeline:
        if entry.sequence != expected:
            if entry.sequence > expected:
                missing = f"event {expected}" + (f" to {entry.sequence - 1}" if entry.sequence - 1 > expected else "")
                return Problem(sequence=expected, reason=f"{missing} is missing: deleted from the timeline"), chained
            return Problem(sequence=entry.sequence, reason=f"event {entry.sequence} is out of order"), chained
        expected += 1
        if entry.digest is None:
            if chained:
                return Problem(sequence=entry.sequence, reason="the event carries no digest inside the chain"), chained
            continue  # written before timelines were chained: only a prefix may be
        if entry.digest != event_digest(launch_id, entry.sequence, entry.previous or "", entry.event):
            return Problem(
                sequence=entry.sequence, reason="its content does not match its digest: it was changed after written"
            ), chained
        if entry.previous != (previous or GENESIS):
            return Problem(
                sequence=entry.sequence,
                reason="it does not follow the event before it: an event was changed, moved or replaced before it",
            ), chained
        previous = entry.digest
        chained += 1
    return None, chained


def _check_seal(
    launch_id: str,
    seal: Seal,
    digests: dict[int, str | None],
    last: int,
    public_key: bytes | None,
    found: Verification,
) -> Problem | None:
    statement = seal.statement
    if statement.launch_id != launch_id:
        return Problem(sequence=None, reason=f"the seal is of launch {statement.launch_id}, not of {launch_id}")
    key = public_key if public_key is not None else _b64(seal.public_key)
    if key is None:
        return Problem(sequence=None, reason="the seal names no public key: pass the controller's with --public-key")
    if not signature_holds(key, statement.message(), _b64(seal.signature) or b""):
        return Problem(sequence=None, reason="the seal's signature does not hold for its statement and that key")
    found.key_pinned = public_key is not None
    if not found.key_pinned:
        found.notes.append(
            "the signature was checked against the key the document carries: pin the controller's evidence key "
            "with --public-key to prove who sealed it (docs/evidence.md)"
        )
    if statement.sequence > last:
        return Problem(
            sequence=last + 1,
            reason=f"the seal covers events to {statement.sequence}, the evidence ends at {last}: events were deleted",
        )
    if digests.get(statement.sequence) != statement.head:
        return Problem(
            sequence=statement.sequence,
            reason="the chain's head at the seal is not the one signed: the timeline was rewritten up to here",
        )
    found.sealed_through = statement.sequence
    if last > statement.sequence:
        found.notes.append(f"events {statement.sequence + 1} to {last} came after the seal: chained, not signed")
    return None


def _b64(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value else None


def signature_holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` (ECDSA, DER, as KMS returns it) is `message`'s under `public_key` (DER or PEM)."""
    # Only the offline check verifies: the Lambdas that import the chain's digests do not load cryptography.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        if public_key.lstrip().startswith(b"-----BEGIN"):
            loaded = serialization.load_pem_public_key(public_key)
        else:
            loaded = serialization.load_der_public_key(public_key)
    except ValueError:
        return False
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        return False
    try:
        loaded.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
