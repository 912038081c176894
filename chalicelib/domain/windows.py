"""Deploy windows: whether a launch may start now in its environment's time zone, and if not, when it may."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.models import EmergencyLaunch, Launch
from chalicelib.domain.profiles import WEEKDAYS, ApprovalPolicy, DeployWindows, EnvironmentProfile, Freeze
from chalicelib.domain.progress import CheckOutcome, CheckResult

WINDOW_CHECK = "release.deploy_window"
# How far ahead the next window is looked for: a freeze longer than this names no next window.
_LOOK_AHEAD_DAYS = 400


@dataclass(frozen=True)
class WindowState:
    open: bool
    closed_by: str = ""  # why not, when closed
    next_opens: datetime | None = None  # in the windows' time zone


def window_state(windows: DeployWindows, moment: datetime) -> WindowState:
    """Whether a launch may start at `moment`, and if not why and when it next may."""
    zone = ZoneInfo(windows.time_zone)
    local = moment.astimezone(zone)
    freeze = _frozen(windows, local.date())
    if freeze is None and _in_weekly(windows, local):
        return WindowState(open=True)
    closed_by = (
        f"freeze {freeze.starts} to {freeze.ends}: {freeze.reason}"
        if freeze is not None
        else f"outside the weekly windows ({describe(windows)})"
    )
    return WindowState(open=False, closed_by=closed_by, next_opens=_next_opening(windows, local))


def describe(windows: DeployWindows) -> str:
    """The weekly windows as a person reads them: `mon, tue, wed 09:00-16:00 Europe/London`."""
    spans = [f"{', '.join(w.days)} {w.opens}-{w.closes}" for w in windows.weekly] or ["any time"]
    return "; ".join(spans) + f" {windows.time_zone}"


def in_words(moment: datetime) -> str:
    """`Mon 2026-12-07 09:00 Europe/London`."""
    return f"{moment:%a %Y-%m-%d %H:%M} {moment.tzinfo}"


def _frozen(windows: DeployWindows, day: date) -> Freeze | None:
    return next((f for f in windows.freezes if f.starts <= day <= f.ends), None)


def _in_weekly(windows: DeployWindows, local: datetime) -> bool:
    if not windows.weekly:
        return True
    day, clock = WEEKDAYS[local.weekday()], f"{local:%H:%M}"
    return any(day in w.days and w.opens <= clock < w.closes for w in windows.weekly)


def _next_opening(windows: DeployWindows, local: datetime) -> datetime | None:
    """The first moment after `local` when a launch may start: a weekly window's opening (or, with no weekly
    windows, a day's start) on a day no freeze covers."""
    zone = local.tzinfo
    for offset in range(_LOOK_AHEAD_DAYS):
        day = local.date() + timedelta(days=offset)
        if _frozen(windows, day) is not None:
            continue
        if not windows.weekly:
            return datetime.combine(day, time(0, 0), tzinfo=zone)  # the day after the freeze
        weekday = WEEKDAYS[day.weekday()]
        openings = sorted(
            datetime.combine(day, time.fromisoformat(w.opens), tzinfo=zone) for w in windows.weekly if weekday in w.days
        )
        later = [opening for opening in openings if opening > local]
        if later:
            return later[0]
    return None


def window_check(
    windows: DeployWindows, launch: Launch, moment: datetime
) -> tuple[CheckResult, EmergencyLaunch | None]:
    """The deploy window's verdict on starting `launch` at `moment`; the emergency to record when it starts
    outside a window as one the profile's emergency role signs off."""
    state = window_state(windows, moment)
    now = in_words(moment.astimezone(ZoneInfo(windows.time_zone)))
    reason = launch.request.emergency_reason
    emergency = windows.emergency

    def result(outcome: CheckOutcome, **evidence: Any) -> CheckResult:
        return CheckResult(
            id=WINDOW_CHECK,
            title="Inside a deploy window, or an emergency signed off as well",
            section="Application",
            result=outcome,
            resource=describe(windows),
            evidence={"now": now, **evidence},
        )

    if state.open:
        return result("pass", window="open" + (f" (emergency declared: {reason})" if reason else "")), None
    opens = in_words(state.next_opens) if state.next_opens else f"not within {_LOOK_AHEAD_DAYS} days"
    if reason is None or emergency is None:
        how = (
            f"; an emergency launch (emergency_reason) goes ahead with {emergency.role} signing off as well"
            if emergency
            else ""
        )
        refused = {"emergency": "this environment takes no emergency launches"} if reason else {}
        return result("fail", closed=state.closed_by, next_window_opens=opens + how, **refused), None
    record = EmergencyLaunch(
        reason=reason,
        outside=state.closed_by,
        next_window_opens=state.next_opens,
        signoff_role=emergency.role,
        approvers=[email.lower() for email in emergency.approvers],
        declared_at=moment,
    )
    return result(
        "warn", closed=state.closed_by, emergency=reason, signed_off_also_by=emergency.role, next_window_opens=opens
    ), record


def approval_policy(launch: Launch, profile: EnvironmentProfile) -> ApprovalPolicy:
    """Who signs off `launch`: the profile's roles, and for an emergency outside the windows its emergency role
    as well, with the approvers the profile names for it."""
    policy = profile.approvals
    emergency = launch.emergency
    if emergency is None or emergency.signoff_role in policy.roles:
        return policy
    return policy.model_copy(
        update={
            "roles": [*policy.roles, emergency.signoff_role],
            "approvers": {**policy.approvers, emergency.signoff_role: emergency.approvers},
        }
    )
