"""Release images as the local ECS and sample site know them: named by tag, and the same image when a task
runs it pinned to its digest (as a launch deploys it)."""

from __future__ import annotations

from typing import Any


def _repository(name: str) -> Any:
    """The local ECR's repository of `registry/repository` (no tag, no digest); None outside the local ECR."""
    from moto.ecr.models import ecr_backends

    registry, _, repository_name = name.partition("/")
    parts = registry.split(".")
    if len(parts) < 4 or parts[1:3] != ["dkr", "ecr"]:
        return None
    return ecr_backends[parts[0]][parts[3]].repositories.get(repository_name)


def tags_of(image: str) -> set[str]:
    """`registry/repository:tag` for each tag the local ECR gives the digest `image` is pinned to; none for an
    image named by its tag, or outside the local ECR."""
    if "@sha256:" not in image:
        return set()
    name, digest = image.split("@", 1)
    repository = _repository(name)
    if repository is None:
        return set()
    return {f"{name}:{tag}" for found in repository.images if found.image_digest == digest for tag in found.image_tags}


def digest_of(image: str) -> str | None:
    """The digest `image` names now: the one it is pinned to, or its tag's in the local ECR (None: not there)."""
    name, _, pinned = image.partition("@")
    if pinned:
        return pinned
    path, _, tag = name.rpartition(":")
    repository = _repository(path)
    if repository is None:
        return None
    return next((str(found.image_digest) for found in repository.images if tag in found.image_tags), None)


class Images(set[str]):
    """A set of images by tag whose `in` also finds an image pinned by digest to one of those tags."""

    def __contains__(self, image: object) -> bool:
        if super().__contains__(image):
            return True
        return isinstance(image, str) and any(super(Images, self).__contains__(name) for name in tags_of(image))
