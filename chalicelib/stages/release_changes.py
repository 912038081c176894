"""What a launch would change, read at preflight for its approvers: the release live now against this one
(the image and its digest, the task definition, the site's objects, the commits between)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.checks.application import ecr_location, image_digest
from chalicelib.checks.release import READ_CONTENTS, GitHubApp, GitHubUnreadable, compare, installation_token
from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Commit, ReleaseChanges
from chalicelib.stages.site import object_keys, release_objects
from chalicelib.store import LaunchStore

# What a read may fail with: the launch goes on, and the approvers are told what could not be read.
UNREADABLE = (ClientError, BotoCoreError, GitHubUnreadable, KeyError, IndexError, ValueError)


def read_changes(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    client: Callable[[str], Any],
    github: Callable[[], GitHubApp] | None = None,
) -> ReleaseChanges:
    """Each part read on its own; one that cannot be read is left out and named in `unread`."""
    request = launch.request
    migration = profile.backend.migration
    found: dict[str, Any] = {
        "image": request.backend_image,
        "migration": migration.task_definition if migration else None,
    }
    unread: list[str] = []

    def part(what: str, read: Callable[[], dict[str, Any]]) -> None:
        try:
            found.update(read())
        except UNREADABLE as exc:
            unread.append(f"{what}: {_reason(exc)}")

    live = store.live_launch(request.environment)  # this launch has not succeeded: it is never the live one
    if live is not None:
        found |= {"live_launch_id": live.launch_id, "live_version": live.request.version}
        found["live_git_sha"] = live.request.git_sha
    part("the service's image", lambda: _live_image(client, profile))
    part("the release image's digest", lambda: {"image_digest": _digest(client, request.backend_image)})
    if found.get("live_image"):
        part("the live image's digest", lambda: {"live_image_digest": _digest(client, found["live_image"])})
    part("the site's objects", lambda: _site(client, launch, profile))
    checks = profile.preflight.release_checks
    if github is not None and checks is not None and live is not None and live.request.git_sha != request.git_sha:
        part("the commits", lambda: _commits(github(), checks.repository, live.request.git_sha, request.git_sha))
    return ReleaseChanges(**found, unread=unread)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


def _live_image(client: Callable[[str], Any], profile: EnvironmentProfile) -> dict[str, Any]:
    backend = profile.backend
    ecs = client("ecs")
    service = ecs.describe_services(cluster=backend.cluster, services=[backend.service])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    container = next(c for c in definition["containerDefinitions"] if c["name"] == backend.container)
    return {
        "live_image": container["image"],
        "live_task_definition": f"{definition['family']}:{definition['revision']}",
    }


def _digest(client: Callable[[str], Any], image: str) -> str | None:
    return image_digest(client("ecr"), image) if ecr_location(image) else None


def _site(client: Callable[[str], Any], launch: Launch, profile: EnvironmentProfile) -> dict[str, Any]:
    """The site's objects the release adds, changes and removes, by ETag, as the frontend stage will."""
    s3 = client("s3")
    release = release_objects(s3, launch.request)
    live = object_keys(s3, profile.frontend.site_bucket)
    return {
        "site_added": sum(key not in live for key in release),
        "site_changed": sum(key in live and live[key] != etag for key, etag in release.items()),
        "site_removed": sum(key not in release for key in live),
        "site_unchanged": sum(live.get(key) == etag for key, etag in release.items()),
    }


def _commits(app: GitHubApp, repository: str, base: str, head: str) -> dict[str, Any]:
    token = installation_token(app, repository, READ_CONTENTS)
    found = compare(app, token, repository, base, head)
    return {
        "commits_total": found["total"],
        "commits": [Commit(**commit) for commit in found["commits"]],
        "compare_url": found["url"],
    }
