"""The checklist's database items: Multi-AZ, encryption, backups, snapshots, protection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.checks.check import Context, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile


def _database(ctx: Context) -> dict[str, Any]:
    return ctx.once(
        "database",
        lambda: ctx.client("rds").describe_db_instances(DBInstanceIdentifier=ctx.profile.database.instance_id)[
            "DBInstances"
        ][0],
    )


def _instance(profile: EnvironmentProfile) -> str:
    return profile.database.instance_id


def _database_flag(attribute: str, want: bool = True) -> Callable[[Context], Verdict]:
    def read(ctx: Context) -> Verdict:
        value = bool(_database(ctx).get(attribute, False))
        return value == want, {attribute: value}

    return read


check("rds.multi_az", "Infrastructure", "Database is Multi-AZ", _instance)(_database_flag("MultiAZ"))
check("rds.storage_encrypted", "Security", "Database storage encrypted", _instance)(_database_flag("StorageEncrypted"))
check("rds.not_public", "Security", "Database not publicly accessible", _instance)(
    _database_flag("PubliclyAccessible", want=False)
)
check("rds.deletion_protection", "Infrastructure", "Database deletion protection on", _instance)(
    _database_flag("DeletionProtection")
)
check("rds.performance_insights", "Monitoring", "Performance Insights on", _instance, severity="warning")(
    _database_flag("PerformanceInsightsEnabled")
)


@check("rds.backup_retention", "Infrastructure", "Backups kept long enough", _instance)
def backup_retention(ctx: Context) -> Verdict:
    days = int(_database(ctx).get("BackupRetentionPeriod", 0))
    required = ctx.profile.preflight.backup_retention_days
    return days >= required, {"retention_days": days, "required_days": required}


@check(
    "rds.instance_snapshots",
    "Infrastructure",
    "The database takes the pre-launch snapshot the rollback point needs (a DB instance, not an Aurora cluster's)",
    _instance,
    applies=lambda p: p.database.snapshot,
)
def instance_snapshots(ctx: Context) -> Verdict:
    # RDS refuses CreateDBSnapshot for a member of an Aurora cluster: its snapshots are the cluster's, which the
    # controller does not take or restore. Refused here, before anything changes, not at the rollback point.
    cluster = _database(ctx).get("DBClusterIdentifier")
    evidence: dict[str, Any] = {"cluster": cluster}
    if cluster:
        evidence["why"] = (
            f"{ctx.profile.database.instance_id} is a member of the Aurora cluster {cluster}, whose snapshots are the "
            "cluster's (CreateDBClusterSnapshot), which the controller does not take or restore: set "
            "database.snapshot = false (and restore_on_rollback = false) and protect the cluster with its own "
            "backups, or launch against a DB instance"
        )
    return not cluster, evidence
