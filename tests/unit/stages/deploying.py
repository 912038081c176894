"""What the deploy stages' tests share: a client that counts its calls, ECS played once, profiles without
migrations or forcing a redeploy, the service as ECS describes it, a launch with its rollback point."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from localaws.ecs_scheduler import EcsScheduler
from localaws.infrastructure import ECR_REPOSITORY, REGION

from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.stages import rollback_point


class Recording:
    """A boto3 client that counts the operations called through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.copies: list[tuple[str, float, float]] = []  # each copy's key, start and end
        self._lock = threading.Lock()  # a stage copies from several threads at once

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in {"get_paginator", "get_waiter"}:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            began = time.monotonic()
            try:
                return attribute(*args, **kwargs)
            finally:
                if name == "copy_object":
                    with self._lock:
                        self.copies.append((kwargs["Key"], began, time.monotonic()))

        return call


def ecs_settles() -> None:
    """Play ECS once: finish due deployments and stop due one-off tasks."""
    EcsScheduler(REGION, settle_seconds=0).settle()


def without_migration(profile: EnvironmentProfile) -> EnvironmentProfile:
    return profile.model_copy(update={"backend": profile.backend.model_copy(update={"migration": None})})


def forcing(profile: EnvironmentProfile) -> EnvironmentProfile:
    """The profile without migrations, redeploying the current revision instead of registering one."""
    plain = without_migration(profile)
    return plain.model_copy(update={"backend": plain.backend.model_copy(update={"strategy": "force_new_deployment"})})


def service_of(aws: Any, profile: Any) -> dict[str, Any]:
    target = profile.backend
    return aws("ecs").describe_services(cluster=target.cluster, services=[target.service])["services"][0]


def with_rollback_point(store: Any, launch: Launch, profile: Any, aws: Any) -> Launch:
    rollback_point.record_rollback_point(store, launch, profile, aws("ecs"), aws("s3"), aws("rds"))
    return store.get_launch(launch.launch_id)


def move_tag(aws: Any, tag: str, config_digest: str) -> str:
    """Push another image under `tag` (CI run again on a mutable tag); returns the digest the tag names now."""
    other = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    other["config"] = {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 1,
        "digest": config_digest,
    }
    ecr = aws("ecr")
    ecr.put_image(repositoryName=ECR_REPOSITORY, imageManifest=json.dumps(other), imageTag=tag)
    return tag_digest(aws, tag)


def tag_digest(aws: Any, tag: str) -> str:
    found = aws("ecr").describe_images(repositoryName=ECR_REPOSITORY, imageIds=[{"imageTag": tag}])["imageDetails"]
    return str(found[0]["imageDigest"])
