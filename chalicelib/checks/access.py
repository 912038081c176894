"""The check that comes first: the controller acts in the environment through its role."""

from __future__ import annotations

from chalicelib.checks.check import Context, Verdict, check

ACCESS_CHECK = "access.environment_role"


@check(
    ACCESS_CHECK,
    "Infrastructure",
    "The controller acts in the environment through its role",
    lambda p: p.target.role_arn,
)
def environment_role(ctx: Context) -> Verdict:
    """Assumes the role (the first call of the environment's session does) and asks who it is."""
    identity = ctx.client("sts").get_caller_identity()
    account = ctx.profile.target.account_id
    return identity["Account"] == account, {"account": identity["Account"], "acting_as": identity["Arn"]}
