"""Frontend layout releases against moto and the local KeyValueStore: each release uploaded once under its own
prefix, going live and rolling back a switch of one entry, nothing copied over the live site or invalidated."""

from __future__ import annotations

import json
import random
import shutil
import string
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws.infrastructure import FIRST_VERSION, RELEASE_ROUTER, site_build
from pydantic import ValidationError

from chalicelib.domain.errors import FrontendDeployFailed
from chalicelib.domain.models import Change, Launch, Stage
from chalicelib.domain.profiles import EnvironmentProfile, FrontendTarget
from chalicelib.domain.wording import in_words
from chalicelib.stages import frontend, rollback, rollback_point
from chalicelib.stages.release_switch import (
    CANARY_PERCENT_KEY,
    CANARY_RELEASE_KEY,
    LIVE_RELEASE_KEY,
    live_release,
    release_prefix,
    switch_release,
)
from tests.unit.stages.deploying import Recording


def releases(profile: EnvironmentProfile) -> EnvironmentProfile:
    return profile.model_copy(update={"frontend": profile.frontend.model_copy(update={"layout": "releases"})})


def kvs_of(application: Any) -> Any:
    return application("cloudfront-keyvaluestore")


def store_arn(profile: EnvironmentProfile) -> str:
    assert profile.frontend.key_value_store_arn is not None
    return profile.frontend.key_value_store_arn


def root_site(application: Any, profile: EnvironmentProfile) -> dict[str, bytes]:
    s3 = application("s3")
    bucket = profile.frontend.site_bucket
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
        if not item["Key"].startswith("releases/")
    }


def go_live(store: Any, launch: Launch, profile: EnvironmentProfile, application: Any, **clients: Any) -> Launch:
    """The rollback point, then the frontend stage, as a launch runs them."""
    kvs = clients.get("kvs", kvs_of(application))
    rollback_point.record_rollback_point(
        store, launch, profile, application("ecs"), application("s3"), application("rds"), kvs=kvs
    )
    recorded = store.get_launch(launch.launch_id)
    s3, cloudfront = clients.get("s3", application("s3")), clients.get("cloudfront", application("cloudfront"))
    progress = frontend.deploy_frontend(store, recorded, profile, s3, cloudfront, kvs=kvs)
    store.record_result(launch.launch_id, Stage.FRONTEND, progress)  # as the stage's harness keeps it
    return store.get_launch(launch.launch_id)


def undo(store: Any, deployed: Launch, profile: EnvironmentProfile, application: Any) -> Any:
    """The rollback stage, as a launch runs it."""
    ecs, s3, cloudfront, rds = (application(name) for name in ("ecs", "s3", "cloudfront", "rds"))
    return rollback.roll_back(store, deployed, profile, ecs, s3, cloudfront, rds, kvs=kvs_of(application))


def test_a_release_goes_live_by_a_switch_and_rolls_back_by_switching_back_copying_nothing_live(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    before = root_site(application, profile)
    cloudfront = Recording(application("cloudfront"))
    deployed = go_live(store, launch, profile, application, cloudfront=cloudfront)
    point = deployed.rollback_point
    assert point is not None
    assert (point.site_layout, point.live_release, point.site_backup, point.site_manifest) == (
        "releases",
        None,
        None,
        None,
    )
    assert deployed.changes == [Change.FRONTEND]
    assert live_release(kvs_of(application), store_arn(profile)) == "1.1.0"
    s3 = application("s3")
    bucket = profile.frontend.site_bucket
    placed = {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=release_prefix("1.1.0"))["Contents"]
    }
    assert placed == {release_prefix("1.1.0") + key: body for key, body in site_build("1.1.0").items()}
    assert root_site(application, profile) == before  # the live site's objects untouched
    assert cloudfront.calls["create_invalidation"] == 0  # each release is cached under its own keys
    event = next(e for e in store.timeline(launch.launch_id) if e.kind == "frontend_deployed")
    assert event.details["release"] == "1.1.0"
    assert event.details["switched_from"] is None

    s3_calls = Recording(application("s3"))
    progress = rollback.roll_back(
        store,
        deployed,
        profile,
        application("ecs"),
        s3_calls,
        cloudfront,
        application("rds"),
        kvs=kvs_of(application),
    )
    assert progress.settled
    assert progress.undone[Change.FRONTEND].release is None
    assert live_release(kvs_of(application), store_arn(profile)) is None  # the bucket's own layout again
    assert s3_calls.calls["copy_object"] == s3_calls.calls["delete_objects"] == 0
    assert cloudfront.calls["create_invalidation"] == 0
    # The release stays in place: launching it again uploads nothing.
    assert s3.list_objects_v2(Bucket=bucket, Prefix=release_prefix("1.1.0"))["KeyCount"] == len(site_build("1.1.0"))


def test_a_frontend_canary_opens_to_testers_leaving_the_live_release_and_its_rollback_closes_it(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    """The frontend stage of a frontend canary: the release uploaded under its prefix and opened to testers at
    0 % of users, the live release as it was; the rollback closes the canary and copies nothing."""
    from chalicelib.domain.profiles import EnvironmentProfile as Profile

    stepped = profile.backend.traffic.model_copy(
        update={"shift": "canary", "hook_role_arn": "arn:aws:iam::123456789012:role/hooks/h"}
    )
    fields = profile.model_dump()
    fields["frontend"] |= {"layout": "releases", "canary": True}
    fields["backend"]["traffic"] = stepped.model_dump()
    profile = Profile.model_validate(fields)
    kvs, arn = kvs_of(application), store_arn(profile)
    switch_release(kvs, arn, FIRST_VERSION)
    deployed = go_live(store, launch, profile, application)
    entries = {item["Key"]: item["Value"] for item in kvs.list_keys(KvsARN=arn)["Items"]}
    assert entries == {LIVE_RELEASE_KEY: FIRST_VERSION, CANARY_RELEASE_KEY: "1.1.0", CANARY_PERCENT_KEY: "0"}
    assert deployed.results.frontend is not None
    assert deployed.results.frontend.canary
    event = next(e for e in store.timeline(launch.launch_id) if e.kind == "frontend_deployed")
    assert "open to testers as the canary, 0 % of users" in event.message
    progress = undo(store, deployed, profile, application)
    assert progress.settled
    assert (
        progress.undone[Change.FRONTEND].reason
        == f"the canary closed, switched back to {FIRST_VERSION}, nothing copied"
    )
    assert {item["Key"]: item["Value"] for item in kvs.list_keys(KvsARN=arn)["Items"]} == {
        LIVE_RELEASE_KEY: FIRST_VERSION
    }


def test_the_release_live_before_is_what_rollback_switches_back_to(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    switch_release(kvs_of(application), store_arn(profile), FIRST_VERSION)
    deployed = go_live(store, launch, profile, application)
    assert deployed.rollback_point is not None
    assert deployed.rollback_point.live_release == FIRST_VERSION
    assert live_release(kvs_of(application), store_arn(profile)) == "1.1.0"
    undo(store, deployed, profile, application)
    assert live_release(kvs_of(application), store_arn(profile)) == FIRST_VERSION


def test_a_retried_deploy_uploads_nothing_twice_and_switches_once(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    deployed = go_live(store, launch, profile, application)
    s3, kvs = Recording(application("s3")), Recording(kvs_of(application))
    again = frontend.deploy_frontend(store, deployed, profile, s3, application("cloudfront"), kvs=kvs)
    assert (again.uploaded, again.deleted, again.release) == (0, 0, "1.1.0")
    assert s3.calls["copy_object"] == 0
    assert kvs.calls["put_key"] == 0  # already live


def test_a_live_release_is_never_overwritten_by_other_objects(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    deployed = go_live(store, launch, profile, application)
    # The same version published again with other bytes, and launched again while it is live.
    s3 = application("s3")
    s3.put_object(Bucket=profile.frontend.artifact_bucket, Key="releases/1.1.0/index.html", Body=b"<html>other")
    point = deployed.rollback_point
    assert point is not None
    relaunched = deployed.model_copy(update={"rollback_point": point.model_copy(update={"live_release": "1.1.0"})})
    with pytest.raises(FrontendDeployFailed, match="a live release is never overwritten"):
        frontend.deploy_frontend(store, relaunched, profile, s3, application("cloudfront"), kvs=kvs_of(application))
    served = s3.get_object(Bucket=profile.frontend.site_bucket, Key=release_prefix("1.1.0") + "index.html")
    assert served["Body"].read() == site_build("1.1.0")["index.html"]


class WrittenBetween:
    """A KeyValueStore client under which another writer changes the store once, between this writer's
    reading of the ETag and its write."""

    def __init__(self, client: Any, store_arn: str) -> None:
        self._client, self._arn, self.raced = client, store_arn, False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != "put_key" or self.raced:
            return attribute

        def put_key(**kwargs: Any) -> Any:
            self.raced = True
            etag = self._client.describe_key_value_store(KvsARN=self._arn)["ETag"]
            self._client.put_key(KvsARN=self._arn, Key="other-writer", Value="x", IfMatch=etag)
            return attribute(**kwargs)

        return put_key


def test_a_write_that_races_another_reads_the_store_again_and_writes_again(
    application: Any, profile: EnvironmentProfile
) -> None:
    arn = store_arn(profile)
    racing = WrittenBetween(kvs_of(application), arn)
    assert switch_release(racing, arn, "1.1.0") is None
    assert racing.raced
    assert live_release(kvs_of(application), arn) == "1.1.0"
    with pytest.raises(kvs_of(application).exceptions.ConflictException):
        kvs_of(application).put_key(KvsARN=arn, Key=LIVE_RELEASE_KEY, Value="1.2.0", IfMatch="stale")


def test_a_store_that_is_not_there_is_an_error_not_no_release(application: Any, profile: EnvironmentProfile) -> None:
    missing = store_arn(profile).rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(kvs_of(application).exceptions.ResourceNotFoundException):
        live_release(kvs_of(application), missing)


def test_the_local_store_refuses_what_aws_refuses(application: Any, profile: EnvironmentProfile) -> None:
    kvs, arn = kvs_of(application), store_arn(profile)
    etag = kvs.describe_key_value_store(KvsARN=arn)["ETag"]
    with pytest.raises(kvs.exceptions.ValidationException, match="at most 1024 bytes"):
        kvs.put_key(KvsARN=arn, Key="big", Value="x" * 1025, IfMatch=etag)
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.delete_key(KvsARN=arn, Key="never-written", IfMatch=etag)


def test_layout_releases_needs_its_store(profile: EnvironmentProfile) -> None:
    fields = profile.frontend.model_dump() | {"layout": "releases", "key_value_store_arn": None}
    with pytest.raises(ValidationError, match="layout = releases needs key_value_store_arn"):
        FrontendTarget.model_validate(fields)
    with pytest.raises(ValidationError) as refused:
        FrontendTarget.model_validate(fields | {"key_value_store_arn": "arn:aws:s3:::bucket"})
    assert "key_value_store_arn: must be a CloudFront KeyValueStore's ARN" in in_words(refused.value, FrontendTarget)


# The release router's code as CloudFront runs it, with its `cloudfront` module played by a store of entries:
# each event given is handled in turn, and what the handler returned is printed.
_ROUTER_DRIVER = """
import { readFileSync } from 'node:fs';
const entries = JSON.parse(process.argv[1]);
const cf = { kvs: () => ({ get: async (key) => {
  if (!(key in entries)) { throw new Error('not found'); }
  return entries[key];
} }) };
%s
const events = JSON.parse(readFileSync(0, 'utf8'));
const handled = [];
for (const event of events) {
  handled.push(await handler(event));
}
console.log(JSON.stringify(handled));
"""


def handled(entries: dict[str, str], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "node comes with npm, which make installs for the browser tests"
    code = RELEASE_ROUTER.read_text().replace("import cf from 'cloudfront';", "")
    result = subprocess.run(
        [node, "--input-type=module", "-e", _ROUTER_DRIVER % code, json.dumps(entries)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return list(json.loads(result.stdout))


def viewer_request(
    uri: str, request_id: str = "r-1", cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A viewer-request event as CloudFront Functions' documentation gives it."""
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request", "requestId": request_id, "distributionId": "EDFDVBD6EXAMPLE"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {},
            "headers": {name: {"value": value} for name, value in (headers or {}).items()},
            "cookies": {name: {"value": value} for name, value in (cookies or {}).items()},
        },
    }


def routed(entries: dict[str, str], uris: list[str]) -> list[str]:
    return [answer["uri"] for answer in handled(entries, [viewer_request(uri) for uri in uris])]


def test_the_release_router_serves_the_live_release_and_the_bucket_root_without_one() -> None:
    uris = ["/", "/index.html", "/assets/app.1234abcd.js", "/docs/"]
    assert routed({LIVE_RELEASE_KEY: "1.2.0"}, uris) == [
        "/releases/1.2.0/index.html",
        "/releases/1.2.0/index.html",
        "/releases/1.2.0/assets/app.1234abcd.js",
        "/releases/1.2.0/docs/index.html",
    ]
    assert routed({}, uris) == uris
    # An entry that is not a release's name (written by hand) never leads outside the releases.
    assert routed({LIVE_RELEASE_KEY: "../private"}, ["/index.html"]) == ["/index.html"]


def test_a_frontend_canary_goes_to_testers_then_to_its_share_of_viewers_each_staying_on_their_side() -> None:
    from localaws.cloudfront_router import bucket_of, release_for

    live = {LIVE_RELEASE_KEY: "1.2.0", CANARY_RELEASE_KEY: "1.3.0"}
    # Request ids as CloudFront makes them: 56 characters of URL-safe base64.
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    viewers = ["".join(rng.choice(alphabet) for _ in range(54)) + "==" for _ in range(400)]

    def served(share: str, cookies: dict[str, str] | None = None) -> list[str]:
        events = [viewer_request("/", viewer, cookies) for viewer in viewers]
        return [answer["uri"] for answer in handled({**live, CANARY_PERCENT_KEY: share}, events)]

    # At 0 % only a tester who opts in is served the canary.
    assert set(served("0")) == {"/releases/1.2.0/index.html"}
    tester = viewer_request("/", headers={"x-release-canary": "opt-in"})
    assert handled({**live, CANARY_PERCENT_KEY: "0"}, [tester])[0]["uri"] == "/releases/1.3.0/index.html"
    # At 10 %, about a tenth of new viewers; every one of them still has it at 50 %.
    at_10 = [uri == "/releases/1.3.0/index.html" for uri in served("10")]
    at_50 = [uri == "/releases/1.3.0/index.html" for uri in served("50")]
    assert 20 <= sum(at_10) <= 60, sum(at_10)
    assert all(later for earlier, later in zip(at_10, at_50, strict=True) if earlier)
    # The local CloudFront's router chooses as the function does, viewer by viewer.
    entries = {**live, CANARY_PERCENT_KEY: "10"}
    assert [release_for(entries.get, viewer, {}, {}) == "1.3.0" for viewer in viewers] == at_10
    # A viewer's cookie decides, whatever the request: bucket 42 is in a 5 % share, bucket 500 is not.
    assert set(served("5", {"release-bucket": "42"})) == {"/releases/1.3.0/index.html"}
    assert set(served("5", {"release-bucket": "500"})) == {"/releases/1.2.0/index.html"}
    # The viewer-response event gives a new viewer the bucket its request was served by, and the local
    # CloudFront computes the same bucket.
    response = {
        **viewer_request("/", "req-7"),
        "context": {"eventType": "viewer-response", "requestId": "req-7"},
        "response": {"statusCode": 200, "headers": {}, "cookies": {}},
    }
    kept = handled(live, [response])[0]["cookies"]["release-bucket"]
    assert kept["value"] == str(bucket_of("req-7"))
    assert "Secure" in kept["attributes"]
    returning = {**response, "request": viewer_request("/", "req-7", {"release-bucket": "3"})["request"]}
    assert handled(live, [returning])[0]["cookies"] == {}  # a viewer with a bucket keeps it


class Refusing:
    """A KeyValueStore client whose writes IAM refuses."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name not in {"put_key", "delete_key"}:
            return getattr(self._client, name)

        def refused(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, name)

        return refused


def test_a_refused_switch_fails_the_stage_with_the_site_as_it_was_and_its_rollback_changes_nothing(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    switch_release(kvs_of(application), store_arn(profile), FIRST_VERSION)
    kvs = Refusing(kvs_of(application))
    rollback_point.record_rollback_point(
        store, launch, profile, application("ecs"), application("s3"), application("rds"), kvs=kvs
    )
    recorded = store.get_launch(launch.launch_id)
    with pytest.raises(ClientError, match="AccessDenied"):
        frontend.deploy_frontend(store, recorded, profile, application("s3"), application("cloudfront"), kvs=kvs)
    assert live_release(kvs_of(application), store_arn(profile)) == FIRST_VERSION
    progress = rollback.roll_back(
        store,
        store.get_launch(launch.launch_id),
        profile,
        application("ecs"),
        application("s3"),
        application("cloudfront"),
        application("rds"),
        kvs=kvs,  # still refused: the rollback finds the recorded release live and writes nothing
    )
    assert progress.settled
    assert progress.undone[Change.FRONTEND].release == FIRST_VERSION
