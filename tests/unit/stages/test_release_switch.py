"""Frontend layout releases against moto and the local KeyValueStore: each release uploaded once under its own
prefix, going live and rolling back a switch of one entry, nothing copied over the live site or invalidated."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws.infrastructure import FIRST_VERSION, RELEASE_ROUTER, site_build
from pydantic import ValidationError

from chalicelib.domain.errors import FrontendDeployFailed
from chalicelib.domain.models import Change, Launch
from chalicelib.domain.profiles import EnvironmentProfile, FrontendTarget
from chalicelib.domain.wording import in_words
from chalicelib.stages import frontend, rollback, rollback_point
from chalicelib.stages.release_switch import LIVE_RELEASE_KEY, live_release, release_prefix, switch_release
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
    frontend.deploy_frontend(store, recorded, profile, s3, cloudfront, kvs=kvs)
    return store.get_launch(launch.launch_id)


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


def test_the_release_live_before_is_what_rollback_switches_back_to(
    application: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    profile = releases(profile)
    switch_release(kvs_of(application), store_arn(profile), FIRST_VERSION)
    deployed = go_live(store, launch, profile, application)
    assert deployed.rollback_point is not None
    assert deployed.rollback_point.live_release == FIRST_VERSION
    assert live_release(kvs_of(application), store_arn(profile)) == "1.1.0"
    rollback.roll_back(
        store,
        deployed,
        profile,
        application("ecs"),
        application("s3"),
        application("cloudfront"),
        application("rds"),
        kvs=kvs_of(application),
    )
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


# The release router's code as CloudFront runs it, with its `cloudfront` module played by a store of entries.
_ROUTER_DRIVER = """
const entries = JSON.parse(process.argv[1]);
const cf = { kvs: () => ({ get: async (key) => {
  if (!(key in entries)) { throw new Error('not found'); }
  return entries[key];
} }) };
%s
const uris = JSON.parse(process.argv[2]);
const routed = [];
for (const uri of uris) {
  routed.push((await handler({ request: { uri: uri, headers: {} } })).uri);
}
console.log(JSON.stringify(routed));
"""


def routed(entries: dict[str, str], uris: list[str]) -> list[str]:
    node = shutil.which("node")
    assert node is not None, "node comes with npm, which make installs for the browser tests"
    code = RELEASE_ROUTER.read_text().replace("import cf from 'cloudfront';", "")
    result = subprocess.run(
        [node, "--input-type=module", "-e", _ROUTER_DRIVER % code, json.dumps(entries), json.dumps(uris)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return list(json.loads(result.stdout))


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
