"""The frontend's release switch (layout = releases): every release stays in the site bucket under its own
prefix, and a CloudFront KeyValueStore entry says which one the distribution's viewer-request function serves.

Going live and rolling back write that one entry: nothing is copied, so both take the same seconds at any
size of site. The function (deploy/cloudfront/release-router.js) rewrites each viewer's path to the live
release's prefix before CloudFront looks in its cache, so each release's objects are cached under their own
keys and no invalidation is needed either way. A store without the entry serves the bucket's own layout:
the site as the copy layout left it, which a team's first launch with releases switches away from."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import FrontendDeployFailed

# The entry the release router reads; the function's code names it too.
LIVE_RELEASE_KEY = "live-release"
RELEASES = "releases/"
# How often a write may find the store changed by another writer between reading its ETag and writing.
SWITCH_ATTEMPTS = 5


def release_prefix(version: str) -> str:
    """Where a release's objects stay in the site bucket."""
    return f"{RELEASES}{version}/"


def live_release(kvs: Any, store_arn: str) -> str | None:
    """The release the distribution serves now; None when the store has no entry yet."""
    # Described first: a store that is not there is an error, not "no release yet".
    kvs.describe_key_value_store(KvsARN=store_arn)
    return _entry(kvs, store_arn)


def _entry(kvs: Any, store_arn: str) -> str | None:
    """The store's live-release entry (of a store known to be there)."""
    try:
        value: str = kvs.get_key(KvsARN=store_arn, Key=LIVE_RELEASE_KEY)["Value"]
    except kvs.exceptions.ResourceNotFoundException:
        return None
    return value


def switch_release(kvs: Any, store_arn: str, release: str | None) -> str | None:
    """Make `release` the one CloudFront serves (None: the bucket's own layout again); the release served
    before. Each write names the store's ETag as read just before, so two writers never interleave: the later
    reads again and writes again. Writing what is already live changes nothing (a retried step)."""
    for _ in range(SWITCH_ATTEMPTS):
        etag = kvs.describe_key_value_store(KvsARN=store_arn)["ETag"]
        before = _entry(kvs, store_arn)
        if before == release:
            return before
        try:
            if release is None:
                kvs.delete_key(KvsARN=store_arn, Key=LIVE_RELEASE_KEY, IfMatch=etag)
            else:
                kvs.put_key(KvsARN=store_arn, Key=LIVE_RELEASE_KEY, Value=release, IfMatch=etag)
        except kvs.exceptions.ConflictException:
            continue  # another write came between: read the store again
        return before
    raise FrontendDeployFailed(
        f"the KeyValueStore {store_arn} changed under each of {SWITCH_ATTEMPTS} writes of {LIVE_RELEASE_KEY}"
    )
