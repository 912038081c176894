"""Release images as the local ECS and sample site know them: named by tag, and the same image when a task
runs it pinned to its digest (as a launch deploys it)."""

from __future__ import annotations

from typing import Any


def tags_of(image: str) -> set[str]:
    """`registry/repository:tag` for each tag the local ECR gives the digest `image` is pinned to; none for an
    image named by its tag, or outside the local ECR."""
    if "@sha256:" not in image:
        return set()
    from moto.ecr.models import ecr_backends

    name, digest = image.split("@", 1)
    registry, _, repository_name = name.partition("/")
    parts = registry.split(".")
    if len(parts) < 4 or parts[1:3] != ["dkr", "ecr"]:
        return set()
    repository: Any = ecr_backends[parts[0]][parts[3]].repositories.get(repository_name)
    if repository is None:
        return set()
    return {f"{name}:{tag}" for found in repository.images if found.image_digest == digest for tag in found.image_tags}


class Images(set[str]):
    """A set of images by tag whose `in` also finds an image pinned by digest to one of those tags."""

    def __contains__(self, image: object) -> bool:
        if super().__contains__(image):
            return True
        return isinstance(image, str) and any(super(Images, self).__contains__(name) for name in tags_of(image))
