"""Copies in batches: the plans the frontend stages write, the children that copy them, the check after."""

from __future__ import annotations

import json
from typing import Any

import pytest
from localaws.infrastructure import FIRST_VERSION, site_build

from chalicelib.domain.errors import FrontendDeployFailed, RollbackIncomplete, RollbackPointFailed
from chalicelib.domain.manifests import CopyKind, ManifestUnreadable
from chalicelib.domain.models import Change, Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.stages import frontend, rollback, rollback_point
from chalicelib.stages.copy_batches import (
    BATCH_BYTES,
    Batches,
    BatchOutOfTurn,
    CopyBatch,
    copy_batch,
    cut_batches,
    run_batch,
)
from chalicelib.stages.harness import Dependencies
from chalicelib.stages.site import NO_CACHE, Copy, backup_prefix, cache_control, object_keys
from tests.conftest import move_to

PLANS = "launch-controller-copy-plans"


@pytest.fixture
def environment(application: Any) -> Any:
    application("s3").create_bucket(Bucket=PLANS)
    return application


def batches_of(aws: Any, per_batch: int = 2) -> Batches:
    """Every copy in batches (above 0), `per_batch` a child."""
    return Batches(aws("s3"), PLANS, above=0, per_batch=per_batch)


def run_children(aws: Any, launch: Launch, profile: EnvironmentProfile, batches: Batches, plan: Any) -> list[int]:
    """What the Distributed Map does: each batch of the plan to a child, as the ItemReader hands them out."""
    body = json.loads(aws("s3").get_object(Bucket=plan.bucket, Key=plan.key)["Body"].read())
    items = [CopyBatch.model_validate(item) for item in body]
    assert [item.index for item in items] == list(range(plan.batches))
    return [copy_batch(aws("s3"), launch, profile, plan.kind, item) for item in items]


def test_batches_keep_key_order_and_their_bounds() -> None:
    copies = [Copy(f"assets/{n}.js", f"v{n}") for n in (5, 1, 3, 0, 6, 2, 4)]
    batches = cut_batches(copies, per_batch=3)
    assert [[c.key for c in batch.copies] for batch in batches] == [
        ["assets/0.js", "assets/1.js", "assets/2.js"],
        ["assets/3.js", "assets/4.js", "assets/5.js"],
        ["assets/6.js"],
    ]
    assert [(b.index, b.after, b.last) for b in batches] == [
        (0, "", "assets/2.js"),
        (1, "assets/2.js", "assets/5.js"),
        (2, "assets/5.js", "assets/6.js"),
    ]
    # Keys as long as S3 allows: a batch is cut by its size too, so a child's input stays under 256 KB.
    long = [Copy(f"{n:04d}" + "k" * 1020, "v" * 32, '"' + "e" * 32 + '"') for n in range(500)]
    cut = cut_batches(long)
    assert len(cut) > 1
    assert sum(len(b.copies) for b in cut) == 500
    assert all(len(b.model_dump_json()) <= BATCH_BYTES + 2048 for b in cut)
    assert cut_batches([]) == []


def test_a_plan_is_named_by_its_digest_and_read_back_only_as_written(environment: Any, launch: Launch) -> None:
    batches = batches_of(environment)
    copies = [Copy(f"k{n}", f"v{n}") for n in range(5)]
    plan = batches.plan(launch.launch_id, CopyKind.BACKUP, copies)
    assert (plan.batches, plan.copies, plan.bucket) == (3, 5, PLANS)
    assert plan.key == f"launches/{launch.launch_id}/backup-copies-{plan.sha256[:16]}.json"
    assert batches.plan(launch.launch_id, CopyKind.BACKUP, list(reversed(copies))) == plan  # a retried step
    assert batches.copies(plan) == copies
    environment("s3").put_object(Bucket=PLANS, Key=plan.key, Body=b"[]")
    with pytest.raises(ManifestUnreadable, match="not the one recorded"):
        batches.copies(plan)
    assert not batches.wanted(0)
    assert Batches(environment("s3"), PLANS, above=3).wanted(4)
    assert not Batches(environment("s3"), PLANS, above=3).wanted(3)


def test_a_backup_in_batches_is_made_by_the_children_once_and_checked_after(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    batches = batches_of(environment)
    first = rollback_point.record_rollback_point(
        store, launch, profile, environment("ecs"), s3, environment("rds"), batches
    )
    plan = first.copies
    assert plan is not None
    assert (first.ready, first.backup_objects_copied, plan.copies) == (False, 0, len(site_build(FIRST_VERSION)))
    backup, prefix = profile.frontend.backup_bucket, backup_prefix(launch.launch_id)
    assert object_keys(s3, backup, prefix) == {}
    store.write_progress(launch, progress=first, kept_under=Stage.ROLLBACK_POINT)
    stored = store.get_launch(launch.launch_id)
    # Checked before the children ran: nothing copied, the step fails naming what is missing.
    with pytest.raises(RollbackPointFailed, match=f"left {plan.copies} site objects uncopied"):
        rollback_point.record_rollback_point(
            store, stored, profile, environment("ecs"), s3, environment("rds"), batches, after_batches=True
        )
    assert run_children(environment, stored, profile, batches, plan) == [2, 1]
    assert run_children(environment, stored, profile, batches, plan) == [0, 0]  # a retried child copies none again
    after = rollback_point.record_rollback_point(
        store, stored, profile, environment("ecs"), s3, environment("rds"), batches, after_batches=True
    )
    assert (after.ready, after.copies, after.backup_objects_copied) == (True, None, plan.copies)
    assert len(object_keys(s3, backup, prefix)) == plan.copies


def test_a_deploy_in_batches_uploads_the_assets_in_children_then_the_entry_documents_itself(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    site = profile.frontend.site_bucket
    rollback_point.record_rollback_point(store, launch, profile, environment("ecs"), s3, environment("rds"))
    stored = store.get_launch(launch.launch_id)
    batches = batches_of(environment, per_batch=1)
    first = frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"), batches)
    plan = first.copies
    build = site_build("1.1.0")
    assets = sorted(key for key in build if cache_control(key) != NO_CACHE)
    assert plan is not None
    assert [copy.key for copy in batches.copies(plan)] == assets
    assert first.invalidation_id == ""
    # Nothing served changed yet, but the launch counts the frontend as changed: a failure now rolls it back.
    assert s3.get_object(Bucket=site, Key="index.html")["Body"].read() == site_build(FIRST_VERSION)["index.html"]
    assert store.get_launch(launch.launch_id).changes == [Change.FRONTEND]
    store.write_progress(stored, progress=first, kept_under=Stage.FRONTEND)
    stored = store.get_launch(launch.launch_id)
    children = run_children(environment, stored, profile, batches, plan)
    assert children == [1] * len(assets)
    done = frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"), batches, after_batches=True)
    assert (done.uploaded, done.copies) == (len(build), None)
    for key, body in build.items():
        served = s3.get_object(Bucket=site, Key=key)
        assert (served["Body"].read(), served["CacheControl"]) == (body, cache_control(key))
    manifest = json.loads(
        s3.get_object(Bucket=profile.frontend.backup_bucket, Key=done.manifest.split("/", 3)[3])["Body"].read()
    )  # type: ignore[union-attr]
    assert sorted(manifest["uploaded"]) == sorted(build)


def test_a_deploy_whose_batches_left_assets_out_fails_naming_them(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    s3 = environment("s3")
    rollback_point.record_rollback_point(store, launch, profile, environment("ecs"), s3, environment("rds"))
    stored = store.get_launch(launch.launch_id)
    batches = batches_of(environment, per_batch=1)
    first = frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"), batches)
    assert first.copies is not None
    store.write_progress(stored, progress=first, kept_under=Stage.FRONTEND)
    stored = store.get_launch(launch.launch_id)
    body = json.loads(s3.get_object(Bucket=PLANS, Key=first.copies.key)["Body"].read())
    copy_batch(s3, stored, profile, CopyKind.DEPLOY, CopyBatch.model_validate(body[0]))  # one child of two ran
    with pytest.raises(FrontendDeployFailed, match="left 1 assets not uploaded"):
        frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"), batches, after_batches=True)
    # The entry page was not uploaded: it would have referenced an asset not there.
    site = profile.frontend.site_bucket
    assert s3.get_object(Bucket=site, Key="index.html")["Body"].read() == site_build(FIRST_VERSION)["index.html"]


def test_copies_back_in_batches_are_checked_after(environment: Any, store: Any, launch: Launch, profile: Any) -> None:
    s3 = environment("s3")
    point = rollback_point.record_rollback_point(store, launch, profile, environment("ecs"), s3, environment("rds"))
    assert point.ready
    stored = store.get_launch(launch.launch_id)
    frontend.deploy_frontend(store, stored, profile, s3, environment("cloudfront"))
    stored = store.get_launch(launch.launch_id)
    assert stored.rollback_point is not None
    batches = batches_of(environment)
    undone = rollback.restore_frontend(stored, stored.rollback_point, profile, s3, environment("cloudfront"), batches)
    assert undone.copies is not None
    assert (undone.settled, undone.copies.kind) == (False, CopyKind.RESTORE)
    with pytest.raises(RollbackIncomplete, match=f"left {undone.copies.copies} site objects not copied back"):
        rollback.restore_frontend(
            stored, stored.rollback_point, profile, s3, environment("cloudfront"), batches, after_batches=True
        )
    run_children(environment, stored, profile, batches, undone.copies)
    settled = rollback.restore_frontend(
        stored, stored.rollback_point, profile, s3, environment("cloudfront"), batches, after_batches=True
    )
    assert settled.settled
    site = profile.frontend.site_bucket
    served = {key: s3.get_object(Bucket=site, Key=key)["Body"].read() for key in site_build(FIRST_VERSION)}
    assert served == site_build(FIRST_VERSION)


def test_a_child_works_only_for_a_launch_in_its_stage_and_in_the_profiles_buckets(
    environment: Any, store: Any, launch: Launch, profile: Any
) -> None:
    needs = Dependencies(
        store=lambda: store,
        client=environment,
        environment=lambda _launch, _profile, _function: environment,
        settings=lambda: None,  # type: ignore[arg-type,return-value]
    )
    batch = {"index": 0, "last": "index.html", "copies": [["index.html", "", '"x"']]}
    event = {"launch_id": launch.launch_id, "kind": "deploy", "batch": batch}
    with pytest.raises(BatchOutOfTurn, match="no deploy batch runs now"):
        run_batch(event, needs)
    # A batch names keys and versions, never a bucket: the profile's buckets are the only ones copied between.
    with pytest.raises(ValueError, match="bucket"):
        run_batch({**event, "batch": {**batch, "bucket": "elsewhere"}}, needs)
    deploying = move_to(store, launch.launch_id, LaunchStatus.DEPLOYING)
    store.set_status(launch.launch_id, LaunchStatus.DEPLOYING, stage=Stage.FRONTEND, current=deploying)
    assert run_batch(event, needs) == {"batch": 0, "copied": 1}
