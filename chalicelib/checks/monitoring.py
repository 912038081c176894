"""The checklist's monitoring items: alarms, the dashboard, log retention, who is told."""

from __future__ import annotations

from typing import Any

from chalicelib.checks.check import Context, Missing, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform.alarms import described_alarms


def _alarms(ctx: Context) -> list[dict[str, Any]]:
    names = ctx.profile.bake.alarm_names
    return ctx.once("alarms", lambda: described_alarms(ctx.client("cloudwatch"), names))


def _alarm_names(profile: EnvironmentProfile) -> str:
    return ", ".join(profile.bake.alarm_names) or "(none named)"


@check("monitoring.alarms", "Monitoring", "The profile's alarms exist and notify someone", _alarm_names)
def alarms_exist(ctx: Context) -> Verdict:
    wanted = ctx.profile.bake.alarm_names
    found = {alarm["AlarmName"]: alarm for alarm in _alarms(ctx)}
    missing = [name for name in wanted if name not in found]
    silent = [name for name, alarm in found.items() if not alarm.get("AlarmActions")]
    return bool(wanted) and not missing and not silent, {"missing": missing, "without_actions": silent}


@check("monitoring.no_alarm_firing", "Monitoring", "No alarm already in ALARM (it would hide a breach)", _alarm_names)
def no_alarm_firing(ctx: Context) -> Verdict:
    alarms = _alarms(ctx)
    missing = sorted(set(ctx.profile.bake.alarm_names) - {alarm["AlarmName"] for alarm in alarms})
    if missing or not alarms:
        raise Missing(f"alarms not found: {', '.join(missing) or 'none named'}")  # silence is not a pass
    firing = [alarm["AlarmName"] for alarm in alarms if alarm["StateValue"] == "ALARM"]
    return not firing, {"in_alarm": firing}


@check("monitoring.dashboard", "Monitoring", "Dashboard exists", lambda p: p.preflight.dashboard, severity="warning")
def dashboard(ctx: Context) -> Verdict:
    ctx.client("cloudwatch").get_dashboard(DashboardName=ctx.profile.preflight.dashboard)
    return True, {"dashboard": ctx.profile.preflight.dashboard}


def _log_groups(profile: EnvironmentProfile) -> str:
    return ", ".join(profile.preflight.log_groups)


@check(
    "monitoring.log_retention",
    "Monitoring",
    "Log groups exist with a retention set",
    _log_groups,
    severity="warning",
)
def log_retention(ctx: Context) -> Verdict:
    logs = ctx.client("logs")
    seen = {}
    for name in ctx.profile.preflight.log_groups:
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        seen[name] = None if group is None else group.get("retentionInDays", "never expires")
    ok = all(isinstance(days, int) for days in seen.values())
    return ok, {"retention_days": seen}


@check(
    "monitoring.notifications_subscribed", "Monitoring", "Someone is subscribed to the notifications", lambda p: "topic"
)
def notifications_subscribed(ctx: Context) -> Verdict:
    if not ctx.notification_topic_arn:
        raise Missing("no notification topic is configured")
    subscriptions = ctx.client("sns").list_subscriptions_by_topic(TopicArn=ctx.notification_topic_arn)["Subscriptions"]
    confirmed = [s["Protocol"] for s in subscriptions if s["SubscriptionArn"].startswith("arn:")]
    pending = sum(not s["SubscriptionArn"].startswith("arn:") for s in subscriptions)
    return bool(confirmed), {"topic": ctx.notification_topic_arn, "confirmed": len(confirmed), "pending": pending}
