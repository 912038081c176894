"""Preflight: the checklist's infrastructure items checked against the live account before any change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from chalicelib.errors import PreflightBlocked
from chalicelib.models import Launch, Stage
from chalicelib.profiles import EnvironmentProfile
from chalicelib.store import LaunchStore

Outcome = Literal["pass", "fail", "warn", "skipped"]


class CheckResult(BaseModel):
    """One checklist item: what was checked, how it came out, and the evidence seen."""

    id: str
    title: str
    severity: Literal["blocking", "warning"] = "blocking"
    result: Outcome
    resource: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class PreflightReport(BaseModel):
    checks: list[CheckResult]

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.result == "fail" and check.severity == "blocking"]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures


def _check(check_id: str, title: str, resource: str, read: Callable[[], tuple[bool, dict[str, Any]]]) -> CheckResult:
    """Run one check; an unreadable resource is a failure that says why, never a pass."""
    try:
        ok, evidence = read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return CheckResult(
            id=check_id,
            title=title,
            result="fail",
            resource=resource,
            evidence={"unreadable": error.get("Code", "ClientError"), "message": error.get("Message", str(exc))},
        )
    return CheckResult(id=check_id, title=title, result="pass" if ok else "fail", resource=resource, evidence=evidence)


def run_preflight(profile: EnvironmentProfile, s3: Any, cloudfront: Any, ecs: Any, rds: Any) -> PreflightReport:
    """Check the environment's infrastructure items; the caller decides what a failure blocks."""
    bucket = profile.frontend.site_bucket
    distribution = profile.frontend.distribution_id
    backend = profile.backend
    database = profile.database.instance_id

    def site_versioning() -> tuple[bool, dict[str, Any]]:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
        return status == "Enabled", {"versioning": status}

    def distribution_enabled() -> tuple[bool, dict[str, Any]]:
        config = cloudfront.get_distribution(Id=distribution)["Distribution"]["DistributionConfig"]
        return bool(config["Enabled"]), {"enabled": config["Enabled"]}

    def service_active() -> tuple[bool, dict[str, Any]]:
        response = ecs.describe_services(cluster=backend.cluster, services=[backend.service])
        services = response.get("services", [])
        if not services:
            return False, {"failures": response.get("failures", [])}
        return services[0]["status"] == "ACTIVE", {
            "status": services[0]["status"],
            "task_definition": services[0].get("taskDefinition"),
        }

    def database_encrypted() -> tuple[bool, dict[str, Any]]:
        instance = rds.describe_db_instances(DBInstanceIdentifier=database)["DBInstances"][0]
        return bool(instance.get("StorageEncrypted")), {"storage_encrypted": instance.get("StorageEncrypted", False)}

    return PreflightReport(
        checks=[
            _check("s3.site_versioning", "Site bucket versioning enabled", bucket, site_versioning),
            _check("cloudfront.enabled", "CloudFront distribution enabled", distribution, distribution_enabled),
            _check(
                "ecs.service_active",
                "ECS service present and active",
                f"{backend.cluster}/{backend.service}",
                service_active,
            ),
            _check("rds.storage_encrypted", "RDS storage encrypted", database, database_encrypted),
        ]
    )


def preflight_stage(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, s3: Any, cloudfront: Any, ecs: Any, rds: Any
) -> dict[str, Any]:
    """Run the checks, record the report with the launch, and raise PreflightBlocked on a blocking failure."""
    report = run_preflight(profile, s3, cloudfront, ecs, rds)
    result = report.model_dump(mode="json") | {"passed": report.passed}
    store.record_result(launch.launch_id, Stage.PREFLIGHT, result)
    failed = ", ".join(f"{c.id} ({c.evidence})" for c in report.blocking_failures)
    passed = sum(c.result == "pass" for c in report.checks)
    store.append_event(
        launch.launch_id,
        "preflight",
        f"{passed}/{len(report.checks)} checks passed" + (f"; blocking: {failed}" if failed else ""),
        stage=Stage.PREFLIGHT,
    )
    if not report.passed:
        raise PreflightBlocked(f"blocking checks failed: {failed}")
    return result
