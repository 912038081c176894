"""Preflight checks against moto-emulated infrastructure."""

from __future__ import annotations

from typing import Any

from chalicelib.stages.preflight import run_preflight


def _run(aws: Any, profile: Any) -> Any:
    return run_preflight(profile, aws("s3"), aws("cloudfront"), aws("ecs"), aws("rds"))


def test_the_bootstrapped_environment_passes_every_check(environment: Any, profile: Any) -> None:
    report = _run(environment, profile)
    assert report.passed
    assert {check.id for check in report.checks} == {
        "s3.site_versioning",
        "cloudfront.enabled",
        "ecs.service_active",
        "rds.storage_encrypted",
    }


def test_suspended_versioning_blocks_with_its_evidence(environment: Any, profile: Any) -> None:
    environment("s3").put_bucket_versioning(
        Bucket=profile.frontend.site_bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    report = _run(environment, profile)
    assert not report.passed
    [failure] = report.blocking_failures
    assert failure.id == "s3.site_versioning"
    assert failure.evidence == {"versioning": "Suspended"}


def test_an_unreadable_resource_is_a_failure_that_says_so(environment: Any, profile: Any) -> None:
    missing = profile.model_copy(update={"database": profile.database.model_copy(update={"instance_id": "gone"})})
    report = _run(environment, missing)
    [failure] = report.blocking_failures
    assert failure.id == "rds.storage_encrypted"
    assert failure.evidence["unreadable"] == "DBInstanceNotFound"


def test_an_unencrypted_database_blocks(environment: Any, profile: Any) -> None:
    environment("rds").create_db_instance(
        DBInstanceIdentifier="plain",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="u",
        MasterUserPassword="password1",
        AllocatedStorage=20,
        StorageEncrypted=False,
    )
    plain = profile.model_copy(update={"database": profile.database.model_copy(update={"instance_id": "plain"})})
    assert [check.id for check in _run(environment, plain).blocking_failures] == ["rds.storage_encrypted"]
