"""A launch's end sealed: the head of its timeline's hash chain signed with the controller's evidence key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from chalicelib.domain.evidence_chain import SIGNING_ALGORITHM, Seal, SealStatement
from chalicelib.platform.log import logger
from chalicelib.store import LaunchStore


def seal_launch(store: LaunchStore, launch_id: str, kms: Callable[[], Any] | None, key_id: str) -> Seal | None:
    """Sign the head of the launch's chain as it ends and keep the seal on its record; the seal kept before
    when a retried end finds one. The signing key's policy lets only the functions that end launches sign,
    so a function that could rewrite the table cannot make a timeline it rewrote look sealed.

    A launch ends whatever KMS answers: without a seal its evidence says so, and the chain still holds."""
    if kms is None or not key_id:
        return None
    kept = store.get_launch(launch_id).seal
    if kept is not None:
        return kept
    sequence, head = store.head(launch_id)
    statement = SealStatement(launch_id=launch_id, sequence=sequence, head=head, sealed_at=store.clock.now())
    try:
        signed = kms().sign(
            KeyId=key_id, Message=statement.message(), MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
    except Exception as exc:  # noqa: BLE001 - the end is written; the evidence shows it unsealed
        logger.warning("the launch's end could not be sealed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return None
    seal = Seal(
        statement=statement,
        key_arn=str(signed["KeyId"]),
        signature=base64.b64encode(signed["Signature"]).decode(),
    )
    if not store.record_seal(launch_id, seal):
        return store.get_launch(launch_id).seal  # a concurrent end sealed it first
    return seal
