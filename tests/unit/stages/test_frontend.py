"""The frontend stage against moto: the build synced with its types and caching, assets before entry
documents, leftovers deleted, the distribution invalidated, nothing done twice."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.infrastructure import FIRST_VERSION, site_build

from chalicelib.domain.errors import FrontendDeployFailed
from chalicelib.domain.manifests import Manifest, read_manifest
from chalicelib.domain.models import Change, Launch
from chalicelib.stages import frontend
from chalicelib.stages.site import IMMUTABLE, NO_CACHE, SHORT, cache_control, content_type
from tests.unit.stages.deploying import (
    Recording,
    with_rollback_point,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("index.html", NO_CACHE),
        ("docs/guide.html", NO_CACHE),
        ("service-worker.js", NO_CACHE),
        ("assets/app.3f9a2c1b.js", IMMUTABLE),
        ("assets/chunk-5d2e8f01ab.css", IMMUTABLE),
        ("favicon.ico", SHORT),
        ("assets/logo.svg", SHORT),
    ],
)
def test_cache_control_keeps_hashed_assets_forever_and_entry_documents_fresh(key: str, expected: str) -> None:
    assert cache_control(key) == expected


def test_frontend_syncs_the_build_with_types_and_caching_deletes_leftovers_and_invalidates(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = application("s3")
    site = profile.frontend.site_bucket
    s3.put_object(Bucket=site, Key="old-page.html", Body=b"gone in 1.1.0")
    stored = with_rollback_point(store, launch, profile, application)
    result = frontend.deploy_frontend(store, stored, profile, s3, application("cloudfront"))
    build = site_build("1.1.0")
    assert {item["Key"] for item in s3.list_objects_v2(Bucket=site)["Contents"]} == set(build)
    old_assets = set(site_build(FIRST_VERSION)) - set(build)
    assert result.deleted == len(old_assets | {"old-page.html"})
    for key, body in build.items():
        served = s3.get_object(Bucket=site, Key=key)
        assert served["Body"].read() == body
        assert served["ContentType"] == content_type(key)
        assert served["CacheControl"] == cache_control(key)
    invalidation = application("cloudfront").get_invalidation(
        DistributionId=profile.frontend.distribution_id, Id=result.invalidation_id
    )["Invalidation"]
    assert invalidation["Status"] == "Completed"
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    assert store.get_launch(launch.launch_id).changes == [Change.FRONTEND]
    # The keys it changed are a manifest beside the launch; the timeline keeps counts and where.
    event = next(e for e in store.launch_history(launch.launch_id)[3] if e.kind == "frontend_deployed")
    assert (event.details["uploaded"], event.details["deleted"]) == (result.uploaded, result.deleted)
    manifest = read_manifest(s3, Manifest.model_validate(event.details["manifest"]))
    assert sorted(manifest["deleted"]) == sorted(old_assets | {"old-page.html"})
    assert len(manifest["uploaded"]) == result.uploaded
    assert result.manifest == event.details["manifest"]["location"]


def test_a_retried_frontend_uploads_nothing_twice_and_reuses_its_invalidation(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = with_rollback_point(store, launch, profile, application)
    first = frontend.deploy_frontend(store, stored, profile, application("s3"), application("cloudfront"))
    s3 = Recording(application("s3"))
    again = frontend.deploy_frontend(store, store.get_launch(launch.launch_id), profile, s3, application("cloudfront"))
    assert s3.calls["copy_object"] == 0
    assert again.uploaded == 0
    assert again.unchanged == first.uploaded
    assert again.invalidation_id == first.invalidation_id


def test_every_asset_is_uploaded_before_any_entry_document_though_copies_run_at_once(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    stored = with_rollback_point(store, launch, profile, application)
    s3 = Recording(application("s3"))
    frontend.deploy_frontend(store, stored, profile, s3, application("cloudfront"))
    entry = [(start, end) for key, start, end in s3.copies if cache_control(key) == NO_CACHE]
    assets = [(start, end) for key, start, end in s3.copies if cache_control(key) != NO_CACHE]
    assert entry
    assert assets
    assert max(end for _, end in assets) <= min(start for start, _ in entry)


def test_objects_s3_would_not_delete_fail_the_frontend_naming_each(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """DeleteObjects answers 200 with a refusal per key (AccessDenied on a key the role may not delete):
    the release would otherwise be recorded as deployed with the old files still served."""
    s3 = application("s3")
    s3.put_object(Bucket=profile.frontend.site_bucket, Key="old-page.html", Body=b"gone in 1.1.0")
    stored = with_rollback_point(store, launch, profile, application)

    def refusing(**request: Any) -> dict[str, Any]:
        return {"Errors": [{"Key": item["Key"], "Code": "AccessDenied"} for item in request["Delete"]["Objects"]]}

    s3.delete_objects = refusing
    with pytest.raises(FrontendDeployFailed, match=r"old-page\.html \(AccessDenied\)"):
        frontend.deploy_frontend(store, stored, profile, s3, application("cloudfront"))


def test_frontend_refuses_an_empty_artifact(application: Any, store: Any, launch: Launch, profile: Any) -> None:
    empty = launch.model_copy(
        update={"request": launch.request.model_copy(update={"frontend_artifact": "s3://acme-artifacts-local/none/"})}
    )
    with pytest.raises(FrontendDeployFailed, match="holds no objects"):
        frontend.deploy_frontend(store, empty, profile, application("s3"), application("cloudfront"))
    assert store.get_launch(launch.launch_id).changes == []


def test_a_tagged_object_keeps_its_tags_on_the_site_and_back_from_the_rollback_point(
    application: Any, store: Any, launch: Launch, profile: Any
) -> None:
    """A copy keeps its source's tags (S3's default, which needs the tagging rights the environment's role now
    has): the release's tags reach the site, and the backup of the site keeps the site's."""
    s3 = application("s3")
    site = profile.frontend.site_bucket
    s3.put_object_tagging(
        Bucket=site, Key="index.html", Tagging={"TagSet": [{"Key": "classification", "Value": "public"}]}
    )
    bucket, _, prefix = launch.request.frontend_artifact.removeprefix("s3://").partition("/")
    s3.put_object_tagging(
        Bucket=bucket,
        Key=f"{prefix.rstrip('/')}/index.html",
        Tagging={"TagSet": [{"Key": "release", "Value": launch.request.version}]},
    )
    stored = with_rollback_point(store, launch, profile, application)
    frontend.deploy_frontend(store, stored, profile, s3, application("cloudfront"))
    tags = s3.get_object_tagging(Bucket=site, Key="index.html")["TagSet"]
    assert tags == [{"Key": "release", "Value": launch.request.version}]
    backups = s3.list_objects_v2(Bucket=profile.frontend.backup_bucket, Prefix="pre-launch/")["Contents"]
    backup = next(item["Key"] for item in backups if item["Key"].endswith("/index.html"))
    kept = s3.get_object_tagging(Bucket=profile.frontend.backup_bucket, Key=backup)["TagSet"]
    assert kept == [{"Key": "classification", "Value": "public"}]
