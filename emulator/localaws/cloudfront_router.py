"""The release router as the local CloudFront runs it: deploy/release-router.js's choice of release, in Python
(the unit tests run the JS under Node and check this gives the same buckets)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from chalicelib.stages.release_switch import CANARY_PERCENT_KEY, CANARY_RELEASE_KEY, LIVE_RELEASE_KEY

BUCKET_COOKIE = "release-bucket"
TESTER_HEADER = "x-release-canary"
BUCKETS = 1000
_RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_BUCKET = re.compile(r"[0-9]{1,3}")


def bucket_of(request_id: str, cookie: str | None = None) -> int:
    """The viewer's bucket: their cookie's, else the router's hash of the request id."""
    if cookie is not None and _BUCKET.fullmatch(cookie):
        return int(cookie)
    hashed = 0
    for character in request_id:
        hashed = (hashed * 48271 + ord(character)) % 2147483647
    return hashed % BUCKETS


def _named(release: str | None) -> str | None:
    return release if release and _RELEASE_NAME.fullmatch(release) and ".." not in release else None


def release_for(
    entry: Callable[[str], str | None], request_id: str, cookies: Mapping[str, str], headers: Mapping[str, str]
) -> str | None:
    """The release a viewer is served: the canary for a tester or a viewer inside its share, else the live one;
    None: the bucket's own layout."""
    canary = _named(entry(CANARY_RELEASE_KEY))
    if canary:
        if headers.get(TESTER_HEADER) == "opt-in":
            return canary
        percent = float(entry(CANARY_PERCENT_KEY) or "0")
        if bucket_of(request_id, cookies.get(BUCKET_COOKIE)) < percent * (BUCKETS / 100):
            return canary
    return _named(entry(LIVE_RELEASE_KEY))
