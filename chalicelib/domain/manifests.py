"""Manifests: a stage's long lists (the site's versions, the keys a deploy changed) kept as objects in S3.

The launch record and its timeline keep only where a manifest is, how many entries it has and its digest,
so they stay small whatever the site's size (DynamoDB's items stop at 400 KB)."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Manifest(BaseModel):
    """Where a manifest is, what it counts and the SHA-256 of its bytes (checked whenever it is read)."""

    location: str = Field(description="s3://bucket/key of the JSON object")
    entries: int = Field(description="how many keys it lists")
    sha256: str


class CopyKind(StrEnum):
    BACKUP = "backup"  # the site's recorded versions into the backup bucket, under the launch's prefix
    DEPLOY = "deploy"  # the release's objects onto the site
    RESTORE = "restore"  # the site's recorded versions made current again


class CopyPlan(BaseModel):
    """Where a stage's copy plan is (the controller's bucket), how many batches and copies, its SHA-256."""

    kind: CopyKind
    bucket: str
    key: str
    batches: int
    copies: int
    sha256: str


class ManifestUnreadable(Exception):
    """A manifest is gone or is not the one recorded; what it listed cannot be trusted (each stage says
    what that means for it)."""


def manifest_prefix(launch_id: str) -> str:
    return f"launches/{launch_id}/"


def write_manifest(s3: Any, bucket: str, launch_id: str, name: str, content: dict[str, Any], entries: int) -> Manifest:
    """Write `content` as `launches/<launch>/<name>-<digest>.json`: named by its digest, so a retried step
    that lists something else writes beside the first, never over what a record already points at."""
    body = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(body).hexdigest()
    key = f"{manifest_prefix(launch_id)}{name}-{digest[:16]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return Manifest(location=f"s3://{bucket}/{key}", entries=entries, sha256=digest)


def read_manifest(s3: Any, manifest: Manifest) -> dict[str, Any]:
    """The manifest's content, once its bytes are checked against the recorded digest."""
    bucket, _, key = manifest.location.removeprefix("s3://").partition("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as exc:
        raise ManifestUnreadable(f"manifest {manifest.location} is gone") from exc
    if hashlib.sha256(body).hexdigest() != manifest.sha256:
        raise ManifestUnreadable(f"manifest {manifest.location} is not the one recorded (its SHA-256 differs)")
    content: dict[str, Any] = json.loads(body)
    return content
