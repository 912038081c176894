"""The checklist's secrets: each one the application needs exists and rotates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.checks.check import Context, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile


def _secret_check(role: str) -> Callable[[Context], Verdict]:
    def read(ctx: Context) -> Verdict:
        name = getattr(ctx.profile.preflight.secrets, role)
        # DescribeSecret only: the value is never read, so it cannot be logged or stored.
        found = ctx.client("secretsmanager").describe_secret(SecretId=name)
        rotation = bool(found.get("RotationEnabled"))
        last = found.get("LastRotatedDate") or found.get("LastChangedDate") or found.get("CreatedDate")
        limit = ctx.profile.preflight.secret_max_age_days
        age = (datetime.now(UTC) - last.astimezone(UTC)).days if last else None
        ok = rotation or (age is not None and age <= limit)
        return ok, {"secret": found.get("ARN", name), "rotation_enabled": rotation, "age_days": age, "limit": limit}

    return read


def _secret_name(role: str) -> Callable[[EnvironmentProfile], str]:
    def name(profile: EnvironmentProfile) -> str:
        return str(getattr(profile.preflight.secrets, role))

    return name


for _role, _title in (
    ("database_password", "Database password in Secrets Manager, rotated"),
    ("jwt_secret", "JWT secret in Secrets Manager, rotated"),
    ("github_oauth", "GitHub OAuth credentials in Secrets Manager, rotated"),
):
    check(f"secrets.{_role}", "Security", _title, _secret_name(_role))(_secret_check(_role))
