"""Frontend: put the release's static build on the site bucket, then make it the one served.

Layout copy: over the live site, then a CloudFront invalidation. Layout releases: under the release's own prefix,
then the switch of stages/release_switch.py."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.artifacts import build_digest
from chalicelib.domain.errors import FrontendDeployFailed
from chalicelib.domain.manifests import CopyKind, write_manifest
from chalicelib.domain.models import Change, Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import FrontendProgress, Progress
from chalicelib.stages.copy_batches import Batches, batches_for
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.per_object import each_object
from chalicelib.stages.release_switch import RELEASES, open_canary, switch_release
from chalicelib.stages.site import (
    NO_CACHE,
    Copy,
    cache_control,
    delete_objects,
    invalidate,
    object_keys,
    release_objects,
    upload_prefix,
    uploader,
    wait_for_invalidation,
)
from chalicelib.store import LaunchStore


def deploy_frontend(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    s3: Any,
    cloudfront: Any,
    batches: Batches | None = None,
    after_batches: bool = False,
    kvs: Any = None,
) -> FrontendProgress:
    """Upload new and changed objects, delete what the release no longer has, then go live.

    Layout copy: over the live site, then invalidate and wait. Layout releases: under the release's own
    prefix, then switch the distribution to it (`kvs`, the KeyValueStore's client), nothing invalidated.

    A retried step compares ETags, so it uploads only what the interrupted attempt did not. More changed
    assets than the profile's `batch_copies_above` are planned in batches for the state machine's Distributed
    Map; the step called `after_batches` checks they are all there, then goes on with the entry documents."""
    request = launch.request
    release = release_objects(s3, request)
    if not release:
        raise FrontendDeployFailed(f"the release's frontend artifact {request.frontend_artifact} holds no objects")
    recorded = launch.artifacts
    if recorded is not None and build_digest(release) != recorded.frontend_digest:
        raise FrontendDeployFailed(
            f"the frontend build {request.frontend_artifact} changed since preflight recorded it "
            f"({recorded.frontend_digest}, {recorded.frontend_objects} objects; now {build_digest(release)}, "
            f"{len(release)} objects): a launch deploys the build its approvers saw: publish it as a new version"
        )
    point = launch.rollback_point
    assert point is not None, "the rollback point is recorded before the frontend changes"
    site_bucket = profile.frontend.site_bucket
    prefix = upload_prefix(launch, profile)
    placed = {key[len(prefix) :]: etag for key, etag in object_keys(s3, site_bucket, prefix).items()}
    if not prefix:  # the live site: a release's own prefixes are not part of it
        placed = {key: etag for key, etag in placed.items() if not key.startswith(RELEASES)}
    changed = sorted(key for key, etag in release.items() if placed.get(key) != etag)
    removed = sorted(set(placed) - set(release))
    if prefix and (changed or removed) and point.live_release == request.version:
        raise FrontendDeployFailed(
            f"release {request.version} is live with other objects than {request.frontend_artifact} holds: a live "
            "release is never overwritten; publish this build as a new version"
        )
    # Every asset before any entry document: a page never references an asset not yet uploaded.
    assets = [Copy(key, etag=release[key]) for key in changed if cache_control(key) != NO_CACHE]
    entries = [Copy(key, etag=release[key]) for key in changed if cache_control(key) == NO_CACHE]
    uploaded_in_batches: list[str] = []
    if after_batches:
        if assets:
            raise FrontendDeployFailed(
                f"the upload's batches left {len(assets)} assets not uploaded ({assets[0].key} first)"
            )
        earlier = launch.results.frontend
        if batches is not None and earlier is not None and earlier.copies is not None:
            uploaded_in_batches = [copy.key for copy in batches.copies(earlier.copies)]
    store.record_change(launch.launch_id, Change.FRONTEND)
    if not after_batches and batches is not None and batches.wanted(len(assets)):
        what = f"frontend: {len(assets)} assets to upload"
        plan = batches.plan_announced(store, launch.launch_id, CopyKind.DEPLOY, assets, Stage.FRONTEND, what)
        return FrontendProgress(
            uploaded=0, unchanged=len(release) - len(changed), deleted=0, invalidation_id="", copies=plan
        )
    upload = uploader(s3, launch, site_bucket, prefix)
    each_object(upload, assets)
    each_object(upload, entries)
    # Layout copy: the rollback point holds every removed object's version, so deleting is safe to undo.
    # Layout releases: only this release's own prefix, which is not live.
    refused = delete_objects(s3, site_bucket, [prefix + key for key in removed])
    if refused:
        raise FrontendDeployFailed(f"S3 kept objects the release removes from {site_bucket}: {refused}")
    uploaded = sorted({*uploaded_in_batches, *changed})
    if prefix:
        assert profile.frontend.key_value_store_arn is not None, "a profile with layout releases names its store"
        before, invalidation = point.live_release, ""  # as recorded: a retried step finds its own release live
        if profile.frontend.canary:
            # Testers first; users follow the backend's traffic steps (the lifecycle hook moves the share).
            open_canary(kvs, profile.frontend.key_value_store_arn, request.version)
            went_live = f"{prefix} open to testers as the canary, 0 % of users; {before or 'the bucket root'} live"
        else:
            switch_release(kvs, profile.frontend.key_value_store_arn, request.version)
            went_live = f"switched from {before or 'the bucket root'} to {prefix}, nothing copied live"
    else:
        before = None
        invalidation = invalidate(cloudfront, profile.frontend.distribution_id, ["/*"], f"{launch.launch_id}-deploy")
        wait_for_invalidation(cloudfront, profile.frontend.distribution_id, invalidation)
        went_live = f"invalidation {invalidation} completed"
    # Which keys changed, for the record: beside the launch in S3, the timeline keeps counts and where.
    manifest = write_manifest(
        s3,
        profile.frontend.backup_bucket,
        launch.launch_id,
        "frontend-deployed",
        {
            "bucket": site_bucket,
            "prefix": prefix,
            "release": request.frontend_artifact,
            "uploaded": uploaded,
            "deleted": removed,
        },
        entries=len(uploaded) + len(removed),
    )
    store.append_event(
        launch.launch_id,
        "frontend_deployed",
        f"s3://{site_bucket}/{prefix}: {len(uploaded)} uploaded, {len(release) - len(uploaded)} unchanged, "
        f"{len(removed)} deleted; {went_live}",
        stage=Stage.FRONTEND,
        details={
            "uploaded": len(uploaded),
            "deleted": len(removed),
            "manifest": manifest.model_dump(),
            **({"release": request.version, "switched_from": before} if prefix else {}),
            **({"canary": True} if prefix and profile.frontend.canary else {}),
        },
    )
    return FrontendProgress(
        uploaded=len(uploaded),
        unchanged=len(release) - len(uploaded),
        deleted=len(removed),
        invalidation_id=invalidation,
        manifest=manifest.location,
        release=request.version if prefix else None,
        switched_from=before,
        canary=bool(prefix) and profile.frontend.canary,
    )


def _deploy_frontend_step(call: StageCall) -> Progress:

    return deploy_frontend(
        call.store,
        call.launch,
        call.profile,
        call.client("s3"),
        call.client("cloudfront"),
        batches_for(call),
        call.event.after_batches,
        call.client("cloudfront-keyvaluestore") if call.profile.frontend.layout == "releases" else None,
    )


DEPLOY_FRONTEND = StageSpec(
    "deploy_frontend",
    Stage.FRONTEND,
    _deploy_frontend_step,
    enters=LaunchStatus.DEPLOYING,
    clients=("s3", "cloudfront", "cloudfront-keyvaluestore"),
    own_clients=("s3",),
)
