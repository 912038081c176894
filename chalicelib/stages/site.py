"""The S3 and CloudFront operations the frontend, rollback point and rollback stages share: the site's
objects and versions, the copies each makes of one object (the same in a stage's own Lambda and in a batch's
child), deletions and invalidations."""

from __future__ import annotations

import mimetypes
import re
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from chalicelib.domain.manifests import CopyKind, read_manifest
from chalicelib.domain.models import Launch, LaunchRequest, RollbackPoint
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.stages.per_object import each_object
from chalicelib.stages.release_switch import release_prefix


class Copy(NamedTuple):
    """One object to copy: its key, the version to copy from (backup, restore), and the ETag it has once
    copied (deploy, restore), by which a retried batch knows it is done."""

    key: str
    version: str = ""
    etag: str = ""


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


def uploader(s3: Any, launch: Launch, site_bucket: str, prefix: str = "") -> Callable[[Copy], None]:
    """Copy one object of the release's build onto the site (under `prefix`: the release's own place), with
    its type, caching and the launch's mark."""
    request = launch.request

    def upload(copy: Copy) -> None:
        s3.copy_object(
            Bucket=site_bucket,
            Key=prefix + copy.key,
            CopySource={"Bucket": request.artifact_bucket, "Key": request.artifact_prefix + copy.key},
            ContentType=content_type(copy.key),
            CacheControl=cache_control(copy.key),
            MetadataDirective="REPLACE",
            Metadata={"launch-id": launch.launch_id, "release-version": request.version},
        )

    return upload


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


def live_site(s3: Any, bucket: str) -> tuple[dict[str, str], dict[str, str]]:
    """Key -> version id, and key -> ETag, of every object currently served from a versioned bucket.

    The current objects are listed with their ETags (a page per thousand), then each one's version is read
    (HeadObject, many at once): the cost follows the site's size, not the bucket's history, which
    ListObjectVersions would read in full, every old version of every launch before."""
    etags = {key: etag for key, etag in object_keys(s3, bucket).items() if not key.endswith("/")}
    versions: dict[str, str] = {}
    lock = threading.Lock()

    def version_of(key: str) -> None:
        found = s3.head_object(Bucket=bucket, Key=key).get("VersionId") or "null"
        with lock:
            versions[key] = found

    each_object(version_of, sorted(etags))
    return dict(sorted(versions.items())), etags


def object_keys(s3: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """Key -> ETag of every object under `prefix`."""
    keys: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update({item["Key"]: item["ETag"] for item in page.get("Contents", [])})
    return keys


def release_objects(s3: Any, request: LaunchRequest) -> dict[str, str]:
    """Key (as the site will serve it) -> ETag of every object of the release's build."""
    return {
        key[len(request.artifact_prefix) :]: etag
        for key, etag in object_keys(s3, request.artifact_bucket, request.artifact_prefix).items()
        if not key.endswith("/")
    }


def upload_prefix(launch: Launch, profile: EnvironmentProfile) -> str:
    """Where the release's objects go: over the live site (layout copy), or its own prefix (releases)."""
    return release_prefix(launch.request.version) if profile.frontend.layout == "releases" else ""


def backup_prefix(launch_id: str) -> str:
    return f"pre-launch/{launch_id}/"


def recorded_site(s3: Any, point: RollbackPoint) -> tuple[dict[str, str], dict[str, str]]:
    """Key -> version id, and key -> ETag, of the site as the rollback point recorded it: from its manifest
    in S3 (records made before manifests kept the versions alone, in the launch record itself)."""
    if point.site_manifest is None:
        return point.site_versions, {}
    content = read_manifest(s3, point.site_manifest)
    return content["versions"], content.get("etags", {})


def backer_up(s3: Any, site_bucket: str, backup_bucket: str, prefix: str) -> Callable[[Copy], None]:
    """Copy one recorded object version into the backup bucket, under the launch's prefix."""

    def back_up(copy: Copy) -> None:
        s3.copy_object(
            Bucket=backup_bucket,
            Key=prefix + copy.key,
            CopySource={"Bucket": site_bucket, "Key": copy.key, "VersionId": copy.version},
        )

    return back_up


def copier_back(s3: Any, bucket: str) -> Callable[[Copy], None]:
    """Make one recorded version of a site object current again (a copy of it onto its own key)."""

    def copy_back(copy: Copy) -> None:
        s3.copy_object(
            Bucket=bucket, Key=copy.key, CopySource={"Bucket": bucket, "Key": copy.key, "VersionId": copy.version}
        )

    return copy_back


def copier(kind: CopyKind, s3: Any, launch: Launch, profile: EnvironmentProfile) -> Callable[[Copy], None]:
    """The one copy each kind makes, the same in a stage's own Lambda and in a batch's child."""
    frontend = profile.frontend
    if kind == CopyKind.BACKUP:
        return backer_up(s3, frontend.site_bucket, frontend.backup_bucket, backup_prefix(launch.launch_id))
    if kind == CopyKind.DEPLOY:
        return uploader(s3, launch, frontend.site_bucket, upload_prefix(launch, profile))
    return copier_back(s3, frontend.site_bucket)
