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

# The entries the release router reads; the function's code names them too.
LIVE_RELEASE_KEY = "live-release"
CANARY_RELEASE_KEY = "canary-release"  # a frontend canary's release, served to testers and a share of users
CANARY_PERCENT_KEY = "canary-percent"  # that share, in percent (tenths allowed, as ECS's steps)
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


def _entry(kvs: Any, store_arn: str, key: str = LIVE_RELEASE_KEY) -> str | None:
    """One of the store's entries (of a store known to be there); None when it has none."""
    try:
        value: str = kvs.get_key(KvsARN=store_arn, Key=key)["Value"]
    except kvs.exceptions.ResourceNotFoundException:
        return None
    return value


def switch_release(kvs: Any, store_arn: str, release: str | None) -> str | None:
    """Make `release` the one CloudFront serves (None: the bucket's own layout again); the release served
    before. Writing what is already live changes nothing (a retried step)."""
    return write_entry(kvs, store_arn, LIVE_RELEASE_KEY, release)


def write_entry(kvs: Any, store_arn: str, key: str, value: str | None) -> str | None:
    """Set one of the router's entries (None: delete it); what it held before. Each write names the store's
    ETag as read just before, so two writers never interleave: the later reads again and writes again."""
    for _ in range(SWITCH_ATTEMPTS):
        etag = kvs.describe_key_value_store(KvsARN=store_arn)["ETag"]
        before = _entry(kvs, store_arn, key)
        if before == value:
            return before
        try:
            if value is None:
                kvs.delete_key(KvsARN=store_arn, Key=key, IfMatch=etag)
            else:
                kvs.put_key(KvsARN=store_arn, Key=key, Value=value, IfMatch=etag)
        except kvs.exceptions.ConflictException:
            continue  # another write came between: read the store again
        except kvs.exceptions.ResourceNotFoundException:
            if value is None:
                return None  # deleted meanwhile: what was asked
            raise
        return before
    raise FrontendDeployFailed(f"the KeyValueStore {store_arn} changed under each of {SWITCH_ATTEMPTS} writes of {key}")


def open_canary(kvs: Any, store_arn: str, release: str) -> None:
    """The release to testers (who opt in by header) and to no user yet: its share starts at 0 %. Written share
    first, so the router never sees the release with an older launch's share."""
    write_entry(kvs, store_arn, CANARY_PERCENT_KEY, "0")
    write_entry(kvs, store_arn, CANARY_RELEASE_KEY, release)


def canary_share(kvs: Any, store_arn: str, percent: float) -> None:
    """The share of users (by their cookie's bucket) the canary release is served to."""
    write_entry(kvs, store_arn, CANARY_PERCENT_KEY, f"{percent:g}")


def close_canary(kvs: Any, store_arn: str, live: str | None = None) -> None:
    """End the canary: `live` (when named) becomes the release everyone is served, then the canary's entries go.
    Each write leaves the store in a state the router serves whole: a user moves once, to the release that
    stays. Retried, it writes nothing twice."""
    if live is not None:
        switch_release(kvs, store_arn, live)
    write_entry(kvs, store_arn, CANARY_RELEASE_KEY, None)
    write_entry(kvs, store_arn, CANARY_PERCENT_KEY, None)
