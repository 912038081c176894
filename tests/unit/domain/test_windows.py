"""Deploy windows: open or closed at a moment in the environment's time zone, why, and when next open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.profiles import DeployWindows
from chalicelib.domain.windows import approval_policy, window_check, window_state
from tests.conftest import make_request, unit_profile

# Mon-Thu 09:00-16:00 in London, Fri 09:00-12:00; the year-end freeze.
WINDOWS = DeployWindows.model_validate(
    {
        "time_zone": "Europe/London",
        "weekly": [
            {"days": ["mon", "tue", "wed", "thu"], "opens": "09:00", "closes": "16:00"},
            {"days": ["fri"], "opens": "09:00", "closes": "12:00"},
        ],
        "freezes": [{"starts": "2026-12-21", "ends": "2027-01-03", "reason": "year-end freeze"}],
        "emergency": {"role": "incident_commander", "approvers": ["Ivy.IC@acme.example"]},
    }
)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("moment", "is_open", "next_opens"),
    [
        ("2026-12-03T10:15:00+00:00", True, None),  # Thursday morning
        ("2026-12-03T16:00:00+00:00", False, "2026-12-04T09:00:00+00:00"),  # Thursday at the close: Friday
        ("2026-12-04T12:30:00+00:00", False, "2026-12-07T09:00:00+00:00"),  # Friday afternoon: Monday
        ("2026-12-07T07:00:00+00:00", False, "2026-12-07T09:00:00+00:00"),  # Monday before it opens: today
        ("2026-12-22T10:00:00+00:00", False, "2027-01-04T09:00:00+00:00"),  # in the freeze: Monday after it
        ("2026-06-03T08:30:00+00:00", True, None),  # 09:30 in London in summer (BST)
        ("2026-06-03T15:30:00+00:00", False, "2026-06-04T08:00:00+00:00"),  # 16:30 BST; opens 09:00 BST
    ],
)
def test_a_moment_is_inside_a_window_or_names_when_the_next_opens(
    moment: str, is_open: bool, next_opens: str | None
) -> None:
    state = window_state(WINDOWS, _at(moment))
    assert state.open is is_open
    assert (state.next_opens and state.next_opens.astimezone(UTC)) == (next_opens and _at(next_opens))


def test_a_freeze_says_its_reason_and_dates_and_without_weekly_windows_only_freezes_close() -> None:
    frozen = window_state(WINDOWS, _at("2026-12-24T10:00:00+00:00"))
    assert frozen.closed_by == "freeze 2026-12-21 to 2027-01-03: year-end freeze"
    anytime = WINDOWS.model_copy(update={"weekly": []})
    assert window_state(anytime, _at("2026-12-05T03:00:00+00:00")).open
    after = window_state(anytime, _at("2026-12-24T10:00:00+00:00")).next_opens
    assert after is not None
    assert after.astimezone(UTC) == _at("2027-01-04T00:00:00+00:00")


def _launch(**asked: Any) -> Launch:
    moment = datetime.now(UTC)
    return Launch(
        launch_id="local-20261204-000000-eeeeee",
        request=make_request(**asked),
        status=LaunchStatus.PREFLIGHT,
        created_at=moment,
        updated_at=moment,
    )


def test_a_launch_outside_the_windows_is_blocked_naming_when_the_next_opens() -> None:
    judged, emergency = window_check(WINDOWS, _launch(), _at("2026-12-04T12:30:00+00:00"))
    assert judged.result == "fail"
    assert emergency is None
    assert judged.evidence["next_window_opens"].startswith("Mon 2026-12-07 09:00 Europe/London")
    assert "incident_commander signing off as well" in judged.evidence["next_window_opens"]
    assert judged.evidence["now"] == "Fri 2026-12-04 12:30 Europe/London"


def test_an_emergency_outside_the_windows_goes_ahead_as_a_warning_with_the_extra_role_to_sign_off() -> None:
    launch = _launch(emergency_reason="payments are failing for every EU customer")
    judged, emergency = window_check(WINDOWS, launch, _at("2026-12-24T10:00:00+00:00"))
    assert judged.result == "warn"
    assert emergency is not None
    assert emergency.signoff_role == "incident_commander"
    assert emergency.approvers == ["ivy.ic@acme.example"]
    assert emergency.outside.startswith("freeze")
    policy = approval_policy(launch.model_copy(update={"emergency": emergency}), unit_profile("local"))
    assert policy.roles == ["tech_lead", "product_manager", "qa_lead", "incident_commander"]
    assert policy.may_approve("incident_commander", "ivy.ic@acme.example")
    # Inside a window an emergency needs nobody else; without an emergency role one is refused.
    assert window_check(WINDOWS, launch, _at("2026-12-03T10:15:00+00:00"))[1] is None
    no_role = WINDOWS.model_copy(update={"emergency": None})
    refused, _ = window_check(no_role, launch, _at("2026-12-24T10:00:00+00:00"))
    assert refused.result == "fail"
    assert refused.evidence["emergency"] == "this environment takes no emergency launches"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"time_zone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"weekly": [{"days": ["mon"], "opens": "16:00", "closes": "09:00"}]}, "must be after opens"),
        ({"weekly": [{"days": ["someday"], "opens": "09:00", "closes": "16:00"}]}, "days"),
        ({"weekly": [{"days": ["mon"], "opens": "9am", "closes": "16:00"}]}, "weekly.0.opens"),
        ({"freezes": [{"starts": "2026-12-21", "ends": "2026-12-01", "reason": "backwards"}]}, "is before starts"),
    ],
)
def test_a_window_that_cannot_be_is_refused_naming_what(change: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        DeployWindows.model_validate(WINDOWS.model_dump(mode="json") | change)


def test_the_emergency_role_is_one_more_than_the_roles_that_sign_off_every_launch() -> None:
    from chalicelib.domain.profiles import EnvironmentProfile

    data = unit_profile("local").model_dump(mode="json")
    windows = WINDOWS.model_dump(mode="json")
    windows["emergency"]["role"] = "qa_lead"
    with pytest.raises(ValidationError, match="already signs off every launch"):
        EnvironmentProfile.model_validate(data | {"windows": windows})
