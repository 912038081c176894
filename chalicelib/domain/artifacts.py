"""What a launch deploys, fixed at its start: the image by its digest, the frontend build by its content's digest."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field

from chalicelib.domain.evidence_chain import canonical


def pinned_image(image: str, digest: str) -> str:
    """`registry/repository:tag` (or `...@sha256:...`) as `registry/repository@<digest>`: what ECS pulls is then
    exactly that image, wherever the tag moves. A registry's port (`host:5000/...`) is not a tag."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return f"{name}@{digest}"


def build_digest(objects: dict[str, str]) -> str:
    """The SHA-256 of a frontend build: each object's key (under the artifact's prefix) with its ETag (S3's
    digest of its content), sorted. The same build gives the same digest wherever it was copied from."""
    listing = [[key, etag.strip('"')] for key, etag in sorted(objects.items())]
    return "sha256:" + hashlib.sha256(canonical(listing).encode()).hexdigest()


class Promotion(BaseModel):
    """Where the release was launched before reaching this environment: the launch preflight compared it with."""

    launch_id: str
    environment: str
    ended_at: datetime
    chain: list[str] = Field(
        description="every launch the release went through before this one, first to last (the source last)"
    )


class ReleaseArtifacts(BaseModel):
    """The release's artifacts as preflight resolved them, once: every later step deploys these."""

    backend_image: str = Field(description="the image as the launch asked for it (a tag, or a digest)")
    backend_digest: str | None = Field(
        description="the image's digest in ECR when preflight read it (None: not an ECR image, deployed by its tag)"
    )
    frontend_artifact: str = Field(description="s3://bucket/prefix/ of the build")
    frontend_digest: str = Field(description="build_digest of the build's objects when preflight listed them")
    frontend_objects: int
    resolved_at: datetime
    promotion: Promotion | None = Field(
        default=None, description="the launch elsewhere that deployed exactly these digests, when promoted"
    )

    @property
    def deployed_image(self) -> str:
        """What the service runs: the image pinned to its digest, or (outside ECR) the image as asked."""
        return pinned_image(self.backend_image, self.backend_digest) if self.backend_digest else self.backend_image

    def in_words(self) -> str:
        image = f"{self.deployed_image}" + (" (by tag: not in ECR)" if not self.backend_digest else "")
        promoted = (
            f"; promoted from {self.promotion.environment} launch {self.promotion.launch_id}" if self.promotion else ""
        )
        return f"image {image}; frontend {self.frontend_objects} objects, {self.frontend_digest}{promoted}"
