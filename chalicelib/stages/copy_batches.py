"""Copies in batches: a stage's object copies cut into a plan in S3, which a Distributed Map hands out, a batch to
each child, when there are more than one Lambda should make.

The three frontend stages copy the same way: the rollback point backs the site up, the deploy uploads the
release's assets, the rollback copies recorded versions back. Up to the profile's `batch_copies_above` a stage
makes its copies itself (16 at a time); above it, it writes a copy plan to the controller's own bucket and the
state machine copies each batch in a child, many children at once, then calls the stage again, which checks
the bucket itself and finds nothing left to copy, or fails naming what is."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.manifests import CopyKind, CopyPlan, ManifestUnreadable
from chalicelib.domain.models import LAUNCH_ID_PATTERN, Launch, Stage, profile_of
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform.log import about, begin_invocation, logger
from chalicelib.stages.per_object import each_object
from chalicelib.stages.site import Copy, backup_prefix, copier

if TYPE_CHECKING:
    from chalicelib.stages.harness import Dependencies, StageCall
    from chalicelib.store import LaunchStore

# A child's input stays far under Step Functions' 256 KB whatever its keys' length (S3 allows 1,024 bytes),
# and a child makes its copies in some seconds, 16 at a time, well inside its Lambda's time.
BATCH_COPIES = 500
BATCH_BYTES = 128 * 1024


class CopyBatch(BaseModel):
    """One child's share of a copy plan: keys in order, all after `after` and up to `last`."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    after: str = Field(default="", description="the previous batch's last key: every key here sorts after it")
    last: str = Field(min_length=1)
    copies: list[Copy] = Field(min_length=1, max_length=BATCH_COPIES)


class CopyBatchEvent(BaseModel):
    """A child's input, as the Distributed Map's ItemSelector makes it: the launch, the kind, one batch."""

    model_config = ConfigDict(extra="forbid")

    launch_id: str = Field(pattern=LAUNCH_ID_PATTERN.pattern)
    kind: CopyKind
    batch: CopyBatch


class BatchOutOfTurn(Exception):
    """A batch arrived for a launch that is not in the stage its kind belongs to (ended, or moved on)."""


# The stage a launch is in while each kind's batches run: a batch for any other is refused.
_STAGE_OF = {CopyKind.BACKUP: Stage.ROLLBACK_POINT, CopyKind.DEPLOY: Stage.FRONTEND, CopyKind.RESTORE: Stage.ROLLBACK}


def cut_batches(copies: Sequence[Copy], per_batch: int = BATCH_COPIES) -> list[CopyBatch]:
    """The copies in key order, cut into batches of at most `per_batch` copies and about BATCH_BYTES of JSON."""
    ordered = sorted(copies)
    batches: list[CopyBatch] = []
    start, weight, after = 0, 0, ""
    for position, copy in enumerate(ordered):
        size = len(json.dumps(copy)) + 1
        if position > start and (position - start == per_batch or weight + size > BATCH_BYTES):
            last = ordered[position - 1].key
            batches.append(CopyBatch(index=len(batches), after=after, last=last, copies=ordered[start:position]))
            after, start, weight = last, position, 0
        weight += size
    if ordered:
        batches.append(CopyBatch(index=len(batches), after=after, last=ordered[-1].key, copies=ordered[start:]))
    return batches


@dataclass(frozen=True)
class Batches:
    """Where a stage writes its copy plans (the controller's bucket, with its own client) and above how many
    copies it does."""

    s3: Any
    bucket: str
    above: int
    per_batch: int = BATCH_COPIES

    def wanted(self, copies: int) -> bool:
        return copies > self.above

    def plan(self, launch_id: str, kind: CopyKind, copies: Sequence[Copy]) -> CopyPlan:
        """Write the plan as a JSON array of batches, named by its digest (a retried step writes the same)."""
        batches = cut_batches(copies, self.per_batch)
        body = json.dumps([batch.model_dump(mode="json") for batch in batches], separators=(",", ":")).encode()
        digest = hashlib.sha256(body).hexdigest()
        key = f"launches/{launch_id}/{kind}-copies-{digest[:16]}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return CopyPlan(kind=kind, bucket=self.bucket, key=key, batches=len(batches), copies=len(copies), sha256=digest)

    def plan_announced(
        self, store: LaunchStore, launch_id: str, kind: CopyKind, copies: Sequence[Copy], stage: Stage, what: str
    ) -> CopyPlan:
        """The plan, written, and the launch's timeline told what goes to batches (`what`: how many of what)."""
        plan = self.plan(launch_id, kind, copies)
        store.append_event(
            launch_id,
            "copying_in_batches",
            f"{what} in {plan.batches} batches",
            stage=stage,
            details=plan.model_dump(mode="json"),
        )
        return plan

    def copies(self, plan: CopyPlan) -> list[Copy]:
        """Every copy a plan listed, once its bytes are checked against the recorded digest."""
        try:
            body = self.s3.get_object(Bucket=plan.bucket, Key=plan.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey as exc:
            raise ManifestUnreadable(f"copy plan s3://{plan.bucket}/{plan.key} is gone") from exc
        if hashlib.sha256(body).hexdigest() != plan.sha256:
            raise ManifestUnreadable(f"copy plan s3://{plan.bucket}/{plan.key} is not the one recorded")
        return [copy for batch in json.loads(body) for copy in CopyBatch.model_validate(batch).copies]


def copy_batch(s3: Any, launch: Launch, profile: EnvironmentProfile, kind: CopyKind, batch: CopyBatch) -> int:
    """Make the batch's copies that are not made yet (its range of the destination is listed first, so a
    retried child copies nothing twice); how many it copied."""
    frontend = profile.frontend
    if kind == CopyKind.BACKUP:
        bucket, prefix = frontend.backup_bucket, backup_prefix(launch.launch_id)
    else:
        bucket, prefix = frontend.site_bucket, ""
    present = listed_range(s3, bucket, prefix, batch.after, batch.last)
    missing = [copy for copy in batch.copies if not done(kind, copy, present.get(copy.key))]
    each_object(copier(kind, s3, launch, profile), missing)
    return len(missing)


def done(kind: CopyKind, copy: Copy, present_etag: str | None) -> bool:
    """Whether the destination already holds the copy: the backup key exists; the site's object has the bytes."""
    if kind == CopyKind.BACKUP:
        return present_etag is not None
    return present_etag is not None and present_etag == copy.etag


def listed_range(s3: Any, bucket: str, prefix: str, after: str, last: str) -> dict[str, str]:
    """Key (without `prefix`) -> ETag of the objects after `after` up to `last`: a page per thousand."""
    found: dict[str, str] = {}
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if after:
        arguments["StartAfter"] = prefix + after
    for page in s3.get_paginator("list_objects_v2").paginate(**arguments):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix) :]
            if key > last:
                return found
            found[key] = item["ETag"]
    return found


def run_batch(event: dict[str, Any], needs: Dependencies) -> dict[str, Any]:
    """A Distributed Map's child: make one batch of a launch's copies in its environment, as its role.

    The batch comes from the plan its stage wrote to the controller's bucket; the buckets copied between are
    the launch's profile's, never the batch's to name."""
    begin_invocation()
    parsed = CopyBatchEvent.model_validate(event)
    about(launch_id=parsed.launch_id, stage=str(_STAGE_OF[parsed.kind]), step="copy_batch")
    launch = needs.store().get_launch(parsed.launch_id)
    about(execution=launch.execution_arn, environment=launch.request.environment)
    if launch.status.is_final or launch.stage != _STAGE_OF[parsed.kind]:
        raise BatchOutOfTurn(
            f"launch {launch.launch_id} is {launch.status} in {launch.stage}: no {parsed.kind} batch runs now"
        )
    profile = profile_of(launch)
    s3 = needs.environment(launch, profile, "copy_batch")("s3")
    try:
        copied = copy_batch(s3, launch, profile, parsed.kind, parsed.batch)
    except Exception as exc:
        # The map run keeps the child's error in the child's own execution; the function's log says it here.
        logger.warning("batch failed", extra={"batch": parsed.batch.index, "error": f"{type(exc).__name__}: {exc}"})
        raise
    logger.info("batch copied", extra={"batch": parsed.batch.index, "copied": copied})
    return {"batch": parsed.batch.index, "copied": copied}


def batches_for(call: StageCall) -> Batches | None:
    """Where the stage plans copies for the state machine's batches: the controller's bucket, with its own
    client (the copies themselves are made in the environment, as its role)."""
    bucket = call.settings.copy_plan_bucket
    if not bucket:
        return None
    frontend = call.profile.frontend
    return Batches(call.controller_client("s3"), bucket, frontend.batch_copies_above, frontend.copies_per_batch)
