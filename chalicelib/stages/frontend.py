"""Frontend: sync the release's static build to the site bucket, then invalidate CloudFront and wait."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from chalicelib.errors import FrontendDeployFailed
from chalicelib.manifests import write_manifest
from chalicelib.models import Change, Launch, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.progress import FrontendProgress
from chalicelib.stages.per_object import each_object
from chalicelib.stages.rollback_point import object_keys
from chalicelib.store import LaunchStore

# A bundler's content hash in the file name (app.3f9a2c1b.js, chunk-5d2e8f01.css): safe to cache forever.
_HASHED = re.compile(r"[.-][0-9a-f]{8,}\.[a-z0-9]+$", re.IGNORECASE)
# Documents a browser asks for by a fixed name: always revalidated, so a release shows at once.
_ENTRY_DOCUMENTS = {
    "robots.txt",
    "manifest.json",
    "manifest.webmanifest",
    "service-worker.js",
    "sw.js",
    "asset-manifest.json",
}

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
SHORT = "public, max-age=300"


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name.endswith(".html") or name in _ENTRY_DOCUMENTS:
        return NO_CACHE
    if _HASHED.search(name):
        return IMMUTABLE
    return SHORT


def invalidate(cloudfront: Any, distribution_id: str, paths: list[str], reference: str) -> str:
    """Create an invalidation; AWS answers a repeated caller reference with the first invalidation."""
    response = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
    )
    return str(response["Invalidation"]["Id"])


def wait_for_invalidation(cloudfront: Any, distribution_id: str, invalidation_id: str, delay: int = 10) -> None:
    """Block until CloudFront reports the invalidation Completed (about 10 minutes at most)."""
    cloudfront.get_waiter("invalidation_completed").wait(
        DistributionId=distribution_id, Id=invalidation_id, WaiterConfig={"Delay": delay, "MaxAttempts": 60}
    )


def deploy_frontend(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, s3: Any, cloudfront: Any
) -> FrontendProgress:
    """Upload new and changed objects, delete what the release no longer has, invalidate and wait.

    A retried step compares ETags, so it uploads only what the interrupted attempt did not."""
    request = launch.request
    release = {
        key[len(request.artifact_prefix) :]: etag
        for key, etag in object_keys(s3, request.artifact_bucket, request.artifact_prefix).items()
        if not key.endswith("/")
    }
    if not release:
        raise FrontendDeployFailed(f"the release's frontend artifact {request.frontend_artifact} holds no objects")
    assert launch.rollback_point is not None, "the rollback point is recorded before the frontend changes"
    site_bucket = profile.frontend.site_bucket
    live = object_keys(s3, site_bucket)
    changed = sorted(key for key, etag in release.items() if live.get(key) != etag)
    removed = sorted(set(live) - set(release))
    store.record_change(launch.launch_id, Change.FRONTEND)

    def upload(key: str) -> None:
        s3.copy_object(
            Bucket=site_bucket,
            Key=key,
            CopySource={"Bucket": request.artifact_bucket, "Key": request.artifact_prefix + key},
            ContentType=content_type(key),
            CacheControl=cache_control(key),
            MetadataDirective="REPLACE",
            Metadata={"launch-id": launch.launch_id, "release-version": request.version},
        )

    # Every asset before any entry document: a page never references an asset not yet uploaded.
    each_object(upload, [key for key in changed if cache_control(key) != NO_CACHE])
    each_object(upload, [key for key in changed if cache_control(key) == NO_CACHE])
    # The rollback point holds every removed object's version, so deleting is safe to undo.
    refused = delete_objects(s3, site_bucket, removed)
    if refused:
        raise FrontendDeployFailed(f"S3 kept objects the release removes from {site_bucket}: {refused}")
    invalidation = invalidate(cloudfront, profile.frontend.distribution_id, ["/*"], f"{launch.launch_id}-deploy")
    wait_for_invalidation(cloudfront, profile.frontend.distribution_id, invalidation)
    # Which keys changed, for the record: beside the launch in S3, the timeline keeps counts and where.
    manifest = write_manifest(
        s3,
        profile.frontend.backup_bucket,
        launch.launch_id,
        "frontend-deployed",
        {"bucket": site_bucket, "release": request.frontend_artifact, "uploaded": changed, "deleted": removed},
        entries=len(changed) + len(removed),
    )
    store.append_event(
        launch.launch_id,
        "frontend_deployed",
        f"s3://{site_bucket}: {len(changed)} uploaded, {len(release) - len(changed)} unchanged, "
        f"{len(removed)} deleted; invalidation {invalidation} completed",
        stage=Stage.FRONTEND,
        details={"uploaded": len(changed), "deleted": len(removed), "manifest": manifest.model_dump()},
    )
    return FrontendProgress(
        uploaded=len(changed),
        unchanged=len(release) - len(changed),
        deleted=len(removed),
        invalidation_id=invalidation,
        manifest=manifest.location,
    )


def delete_objects(s3: Any, bucket: str, keys: list[str]) -> str:
    """Delete `keys` from `bucket`, a thousand a request; what S3 did not delete, by key and reason ("" when
    all went). DeleteObjects answers 200 even when it deletes nothing: each key's refusal is in `Errors`."""
    refused = []
    for start in range(0, len(keys), 1000):
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True}
        )
        refused += [f"{error.get('Key')} ({error.get('Code')})" for error in answer.get("Errors", [])]
    return ", ".join(refused)
