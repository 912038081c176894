"""Frontend: put the release's static build in the site bucket and invalidate CloudFront."""

from __future__ import annotations

import mimetypes
from typing import Any

from chalicelib.models import Change, Launch, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore


def release_objects(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    return keys


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def invalidate(cloudfront: Any, distribution_id: str, paths: list[str], reference: str) -> str:
    """Create an invalidation; the same caller reference returns the same one on a retry."""
    response = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
    )
    return response["Invalidation"]["Id"]


def deploy_frontend(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, s3: Any, cloudfront: Any
) -> dict[str, Any]:
    """Copy every object of the release's build into the site bucket, then invalidate the distribution."""
    request = launch.request
    keys = release_objects(s3, request.artifact_bucket, request.artifact_prefix)
    if not keys:
        raise ValueError(f"the release's frontend artifact {request.frontend_artifact} holds no objects")
    store.record_change(launch.launch_id, Change.FRONTEND)
    site_bucket = profile.frontend.site_bucket
    for key in keys:
        s3.copy_object(
            Bucket=site_bucket,
            Key=key[len(request.artifact_prefix) :],
            CopySource={"Bucket": request.artifact_bucket, "Key": key},
            ContentType=content_type(key),
            MetadataDirective="REPLACE",
            Metadata={"launch-id": launch.launch_id, "release-version": request.version},
        )
    invalidation = invalidate(cloudfront, profile.frontend.distribution_id, ["/*"], f"{launch.launch_id}-deploy")
    store.append_event(
        launch.launch_id,
        "frontend_deployed",
        f"{len(keys)} objects copied to s3://{site_bucket}, invalidation {invalidation}",
        stage=Stage.FRONTEND,
    )
    return {"objects": len(keys), "invalidation_id": invalidation}
