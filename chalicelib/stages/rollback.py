"""Rollback: undo only what this launch changed, newest change first; the service's rollback is waited on."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from chalicelib.domain.errors import BackendRolloutFailed, RollbackIncomplete
from chalicelib.domain.manifests import CopyKind
from chalicelib.domain.models import Change, Launch, LaunchStatus, RollbackPoint, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Progress, RollbackProgress, UndoneChange
from chalicelib.domain.service_events import Notice
from chalicelib.stages.backend import passed_roles, registered_for, release_task_definition
from chalicelib.stages.copy_batches import Batches, batches_for
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.per_object import each_object
from chalicelib.stages.release_switch import RELEASES, close_canary, switch_release
from chalicelib.stages.service import another_deployment, migration_task, primary_deployment, rollout_state
from chalicelib.stages.site import (
    Copy,
    copier_back,
    delete_objects,
    invalidate,
    live_site,
    object_keys,
    recorded_site,
    wait_for_invalidation,
)
from chalicelib.stages.wait_outcomes import Outcome, Sighting, restored
from chalicelib.store import LaunchStore, Wait

# Deploy order is frontend, migrations, backend; undo runs the other way.
UNDO_ORDER = (Change.BACKEND, Change.DATABASE, Change.FRONTEND)


# The tag of the revision a rollback registers (a forced deployment's, pinned to what ran before).
ROLLBACK_TAG = "rollback-of"


def restore_backend(
    launch: Launch, point: RollbackPoint, profile: EnvironmentProfile, ecs: Any, deadline: datetime, moment: datetime
) -> UndoneChange:
    """Point the service back at the recorded revision; settled once that deployment is steady."""
    target = profile.backend
    back_to = previous_revision(launch, point, profile, ecs)
    named = back_to.rsplit("/", 1)[-1]
    service = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"][0]
    if service["taskDefinition"] != back_to:
        service = ecs.update_service(cluster=target.cluster, service=target.service, taskDefinition=back_to)["service"]
        pinned = (
            f", {point.running_images[target.container]} as before the launch"
            if back_to != point.task_definition_arn
            else ""
        )
        return UndoneChange(
            task_definition_arn=back_to,
            deployment_id=primary_deployment(service, back_to),
            settled=False,
            reason=f"service {target.service} rolling back to {named}{pinned}",
        )
    state, reason = rollout_state(service, back_to)
    if state == "failed":
        raise RollbackIncomplete(f"the rollback deployment of {target.service} failed: {reason}")
    if state != "steady" and moment > deadline:
        raise RollbackIncomplete(f"{target.service} not steady on the previous revision in time: {reason}")
    return UndoneChange(
        task_definition_arn=back_to,
        deployment_id=primary_deployment(service, back_to),
        settled=state == "steady",
        reason=reason,
    )


def previous_revision(launch: Launch, point: RollbackPoint, profile: EnvironmentProfile, ecs: Any) -> str:
    """The revision the service goes back to: the recorded one, or for a forced deployment (the revision kept,
    its mutable tag moved to the release) a copy of it pinned to the digest the service ran before."""
    target = profile.backend
    if target.strategy != "force_new_deployment":
        return point.task_definition_arn
    image = point.running_images.get(target.container)
    if image is None:
        raise RollbackIncomplete(
            f"{target.service} was force-deployed with a mutable image tag and ECS listed no successful deployment "
            "naming the digest it ran before: re-tag the previous image and force a new deployment of "
            f"{point.task_definition_arn.rsplit('/', 1)[-1]} by hand"
        )
    family = point.task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    existing = registered_for(ecs, family, launch.launch_id, tag_key=ROLLBACK_TAG)
    if existing:
        return existing  # a retried step registered it
    current = ecs.describe_task_definition(taskDefinition=point.task_definition_arn)["taskDefinition"]
    try:
        passed_roles(current, target.task_roles)
        request = release_task_definition(current, target.container, image)
    except BackendRolloutFailed as exc:
        raise RollbackIncomplete(str(exc)) from exc
    tags = [{"key": ROLLBACK_TAG, "value": launch.launch_id}]
    return str(ecs.register_task_definition(**request, tags=tags)["taskDefinition"]["taskDefinitionArn"])


def restore_sighting(launch: Launch, profile: EnvironmentProfile, ecs: Any) -> Sighting:
    """The service's rollback deployment as ECS describes it now; its COMPLETED or FAILED event decides."""
    point = launch.rollback_point
    assert point is not None, "a restore follows a rollback point"
    target = profile.backend
    service = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"][0]
    undone = launch.results.rollback.undone.get(Change.BACKEND) if launch.results.rollback else None
    back_to = (undone.task_definition_arn if undone else None) or point.task_definition_arn
    deployment = (undone.deployment_id if undone else None) or primary_deployment(service, back_to)
    state, reason = rollout_state(service, back_to)
    if state == "steady":
        outcome = restored(launch, reason)
    else:
        verdict: Literal["pending", "failed"] = "failed" if state == "failed" else "pending"
        outcome = Outcome(verdict=verdict, reason=f"rollback deployment of {target.service}: {reason}")
    return Sighting(resources=[service["serviceArn"]], outcome=outcome, expects={"deployment_id": deployment or ""})


def restored_instance_id(instance_id: str, launch_id: str) -> str:
    """A new instance's name: the original's, marked as restored for this launch (RDS allows 63 chars)."""
    suffix = f"-restored-{hashlib.sha256(launch_id.encode()).hexdigest()[:8]}"
    return instance_id[: 63 - len(suffix)].rstrip("-") + suffix


def restore_database(
    launch: Launch, point: RollbackPoint, profile: EnvironmentProfile, rds: Any, ecs: Any
) -> UndoneChange:
    """Restore the pre-launch snapshot into a new instance beside the original, which is never overwritten."""
    database = profile.database
    # The recorded task first: ECS lists a stopped task for about an hour only, less than a bake.
    recorded = launch.migration_task_arn
    if recorded is None and migration_task(ecs, profile.backend.cluster, launch.launch_id) is None:
        return UndoneChange(settled=True, restored_instance=None, reason="the migration never started: unchanged")
    if not database.restore_on_rollback or not point.db_snapshot_id:
        return UndoneChange(
            settled=True,
            restored_instance=None,
            reason="the profile keeps the migrated database on rollback"
            + (f"; snapshot {point.db_snapshot_id} holds the pre-launch data" if point.db_snapshot_id else ""),
        )
    original = rds.describe_db_instances(DBInstanceIdentifier=database.instance_id)["DBInstances"][0]
    restored = restored_instance_id(database.instance_id, launch.launch_id)
    request: dict[str, Any] = {
        "DBInstanceIdentifier": restored,
        "DBSnapshotIdentifier": point.db_snapshot_id,
        "DBInstanceClass": original["DBInstanceClass"],
        "MultiAZ": original.get("MultiAZ", False),
        "PubliclyAccessible": original.get("PubliclyAccessible", False),
        "Tags": [
            {"Key": "launch-id", "Value": launch.launch_id},
            {"Key": "restored-from", "Value": database.instance_id},
        ],
    }
    if original.get("DBSubnetGroup", {}).get("DBSubnetGroupName"):
        request["DBSubnetGroupName"] = original["DBSubnetGroup"]["DBSubnetGroupName"]
    groups = [group["VpcSecurityGroupId"] for group in original.get("VpcSecurityGroups", [])]
    if groups:
        request["VpcSecurityGroupIds"] = groups
    # Without them RDS gives the restored instance its engine's default parameter and option groups: not the
    # database the application was tuned for.
    parameter_groups = [g["DBParameterGroupName"] for g in original.get("DBParameterGroups", [])]
    if parameter_groups:
        request["DBParameterGroupName"] = parameter_groups[0]
    option_groups = [g["OptionGroupName"] for g in original.get("OptionGroupMemberships", [])]
    if option_groups:
        request["OptionGroupName"] = option_groups[0]
    # A retried step may have started it already.
    with contextlib.suppress(rds.exceptions.DBInstanceAlreadyExistsFault):
        rds.restore_db_instance_from_db_snapshot(**request)
    status = rds.describe_db_instances(DBInstanceIdentifier=restored)["DBInstances"][0]["DBInstanceStatus"]
    return UndoneChange(
        settled=True,
        restored_instance=restored,
        status=status,
        reason=f"snapshot {point.db_snapshot_id} restored into new instance {restored} ({status}); "
        f"{database.instance_id} is untouched: switch the application to {restored} by hand if its data is needed",
    )


def restore_frontend(
    launch: Launch,
    point: RollbackPoint,
    profile: EnvironmentProfile,
    s3: Any,
    cloudfront: Any,
    batches: Batches | None = None,
    after_batches: bool = False,
    kvs: Any = None,
) -> UndoneChange:
    """Make the recorded versions current again, delete what the release added, invalidate and wait.

    More copies back than the profile's `batch_copies_above` are planned in batches for the state machine's
    Distributed Map (unsettled until then); the step called `after_batches` checks they were all made.

    A rollback point of layout releases goes back by switching to the release it recorded: nothing copied."""
    if point.site_layout == "releases":
        store_arn = profile.frontend.key_value_store_arn
        if store_arn is None:
            raise RollbackIncomplete(
                f"the profile no longer names the KeyValueStore: switch it back to {point.live_release} by hand"
            )
        frontend = launch.results.frontend
        canary = frontend is not None and frontend.canary
        if canary:
            close_canary(kvs, store_arn)  # the canary's users back on the live release at once
        switch_release(kvs, store_arn, point.live_release)
        return UndoneChange(
            settled=True,
            release=point.live_release,
            reason=("the canary closed, " if canary else "")
            + f"switched back to {point.live_release or 'the bucket root'}, nothing copied",
        )
    bucket = profile.frontend.site_bucket
    recorded, recorded_etags = recorded_site(s3, point)
    if recorded_etags:
        # The listing's ETags say which objects serve other bytes than recorded: no HeadObject per object.
        # A copy-back makes a new version of the same bytes, so an object an earlier attempt of this step
        # restored has the recorded ETag again and is not copied twice.
        live = {
            key: etag
            for key, etag in object_keys(s3, bucket).items()
            if not key.endswith("/") and not key.startswith(RELEASES)
        }
        restored = sorted(key for key in recorded if live.get(key) != recorded_etags.get(key))
    else:  # a rollback point recorded before manifests kept version ids alone
        live = {key: version for key, version in live_site(s3, bucket)[0].items() if not key.startswith(RELEASES)}
        restored = sorted(key for key, version in recorded.items() if live.get(key) != version)
    copies = [Copy(key, recorded[key], recorded_etags.get(key, "")) for key in restored]
    earlier = launch.results.rollback.undone.get(Change.FRONTEND) if launch.results.rollback else None
    in_batches = earlier.copies.copies if after_batches and earlier and earlier.copies else 0
    if after_batches and copies:
        raise RollbackIncomplete(f"the batches left {len(copies)} site objects not copied back ({restored[0]} first)")
    if not after_batches and batches is not None and batches.wanted(len(copies)) and recorded_etags:
        plan = batches.plan(launch.launch_id, CopyKind.RESTORE, copies)
        return UndoneChange(
            settled=False, copies=plan, reason=f"{plan.copies} site objects to copy back in {plan.batches} batches"
        )
    each_object(copier_back(s3, bucket), copies)
    added = sorted(set(live) - set(recorded))
    refused = delete_objects(s3, bucket, added)
    if refused:
        raise RollbackIncomplete(f"S3 kept objects the release added to {bucket}: {refused}")
    distribution = profile.frontend.distribution_id
    invalidation = invalidate(cloudfront, distribution, ["/*"], f"{launch.launch_id}-rollback")
    wait_for_invalidation(cloudfront, distribution, invalidation)
    return UndoneChange(
        settled=True, restored=in_batches + len(copies), deleted=len(added), invalidation_id=invalidation
    )


def roll_back(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    ecs: Any,
    s3: Any,
    cloudfront: Any,
    rds: Any,
    batches: Batches | None = None,
    after_batches: bool = False,
    kvs: Any = None,
) -> RollbackProgress:
    """Undo each recorded change that is not undone yet; called again until everything has settled.

    The frontend's copies back may be planned in batches (`progress.copies`) for the state machine's
    Distributed Map, which calls this again `after_batches`.

    A part that fails is named in RollbackIncomplete after the other parts were still undone."""
    moment = store.clock.now()
    state = launch.results.rollback
    started = state.started_at if state else moment
    deadline = started + timedelta(seconds=profile.backend.deadline_seconds)
    before = dict(state.undone) if state else {}
    undone = dict(before)
    point = launch.rollback_point
    if launch.changes and point is None:
        raise RollbackIncomplete("changes were made without a rollback point; restore by hand")
    undo: dict[Change, Callable[[], UndoneChange]] = {}
    if point is not None:
        undo = {
            Change.BACKEND: lambda: restore_backend(launch, point, profile, ecs, deadline, moment),
            Change.DATABASE: lambda: restore_database(launch, point, profile, rds, ecs),
            Change.FRONTEND: lambda: restore_frontend(
                launch, point, profile, s3, cloudfront, batches, after_batches, kvs
            ),
        }
    left: list[str] = []
    for change in UNDO_ORDER:
        if change not in launch.changes or (change in undone and undone[change].settled):
            continue
        try:
            outcome = undone[change] = undo[change]()
        except Exception as exc:  # noqa: BLE001 - the other changes must still be undone
            left.append(f"{change}: {type(exc).__name__}: {exc}")
            continue
        if not outcome.settled and change not in before:
            store.append_event(launch.launch_id, "rolling_back", f"{change}: {outcome.reason}", stage=Stage.ROLLBACK)
        if outcome.settled:
            store.append_event(
                launch.launch_id,
                "rolled_back",
                f"{change} restored" + (f": {outcome.reason}" if outcome.reason else ""),
                stage=Stage.ROLLBACK,
                details=outcome.model_dump(mode="json", exclude_unset=True),
            )
    frontend = undone.get(Change.FRONTEND)
    progress = RollbackProgress(
        started_at=started,
        undone=undone,
        settled=not left and all(change in undone and undone[change].settled for change in launch.changes),
        left=left,
        copies=frontend.copies if frontend and not frontend.settled and not after_batches else None,
    )
    if left:
        raise RollbackIncomplete("; ".join(left), progress=progress)  # a retry resumes from here
    if not launch.changes and not state:
        store.append_event(launch.launch_id, "rolled_back", "nothing had been changed", stage=Stage.ROLLBACK)
    return progress


def restore_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """ECS's event about the service's rollback deployment."""
    other = another_deployment(wait, notice)
    if other is not None:
        return other
    if notice.verdict == "failed":
        reason = f"ECS rollback deployment of {profile.backend.service} failed: {notice.reason}"
        return Outcome(verdict="failed", reason=reason)
    return restored(launch, notice.reason)


def _roll_back_step(call: StageCall) -> Progress:

    return roll_back(
        call.store,
        call.launch,
        call.profile,
        call.client("ecs"),
        call.client("s3"),
        call.client("cloudfront"),
        call.client("rds"),
        batches_for(call),
        call.event.after_batches,
        call.client("cloudfront-keyvaluestore") if call.profile.frontend.layout == "releases" else None,
    )


ROLL_BACK = StageSpec(
    "roll_back",
    Stage.ROLLBACK,
    _roll_back_step,
    enters=LaunchStatus.ROLLING_BACK,
    honours_abort=False,  # undoing is what an abort asks for
    clients=("ecs", "s3", "cloudfront", "rds", "cloudfront-keyvaluestore"),
    own_clients=("s3",),
)
