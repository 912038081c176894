"""Preflight's governance: a launch into an environment with [promotion] deploys only what a recent successful
launch elsewhere did; one with [windows] starts inside a window, or as an emergency signed off as well."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from localaws.infrastructure import publish_release

from chalicelib.domain.errors import PreflightBlocked
from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.domain.profiles import DeployWindows, EnvironmentProfile, PromotionPolicy
from chalicelib.domain.progress import CheckResult, PreflightReport
from chalicelib.domain.promotion import PROMOTION_CHECK
from chalicelib.stages import preflight
from chalicelib.stages.preflight import preflight_stage, resolve_artifacts
from tests.conftest import make_request, move_to

STAGING_LAUNCH = "staging-20261201-090000-aaaaaa"


@pytest.fixture
def production(profile: EnvironmentProfile) -> EnvironmentProfile:
    """The local environment standing for production: it takes releases launched in staging first."""
    return profile.model_copy(update={"promotion": PromotionPolicy.model_validate({"from": "staging"})})


@pytest.fixture(autouse=True)
def checks_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checklist's own checks pass (they are tested in tests/unit/checks): what is judged here is the
    promotion's, which preflight adds once it has resolved the release's digests."""
    passed = CheckResult(id="app.image_in_ecr", title="t", section="Application", result="pass", resource="r")
    monkeypatch.setattr(preflight, "run_preflight", lambda *_, **__: PreflightReport(checks=[passed]))


def _record(store: Any, launch_id: str, environment: str, version: str = "1.1.0", **asked: Any) -> Launch:
    moment = datetime.now(UTC)
    request = make_request(
        environment=environment,
        version=version,
        frontend_artifact=f"s3://acme-artifacts-local/releases/{version}/",
        backend_image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:{version}",
        **asked,
    )
    record = Launch(
        launch_id=launch_id,
        request=request,
        status=LaunchStatus.REQUESTED,
        created_at=moment,
        updated_at=moment,
    )
    store.create_launch(record)
    return record


def _staging_succeeded(store: Any, aws: Any, version: str = "1.1.0") -> Launch:
    """A launch of `version` into staging that resolved its digests and SUCCEEDED."""
    source = _record(store, STAGING_LAUNCH, "staging", version)
    store.record_artifacts(source.launch_id, resolve_artifacts(source, aws, store.clock.now()))
    move_to(store, source.launch_id, LaunchStatus.BAKING)
    store.set_status(source.launch_id, LaunchStatus.SUCCEEDED)
    store.release_lock("staging", source.launch_id)
    return store.get_launch(source.launch_id)


def _promoted(store: Any, version: str = "1.1.0", promote_from: str | None = STAGING_LAUNCH) -> Launch:
    launch = _record(store, "local-20261201-100000-bbbbbb", "local", version, promote_from=promote_from)
    return move_to(store, launch.launch_id, LaunchStatus.PREFLIGHT)


def test_the_same_build_promoted_from_a_recent_staging_launch_passes_and_the_record_keeps_the_chain(
    application: Any, store: Any, production: EnvironmentProfile
) -> None:
    source = _staging_succeeded(store, application)
    launch = _promoted(store)
    progress = preflight_stage(store, launch, production, application)
    judged = next(c for c in progress.checks if c.id == PROMOTION_CHECK)
    assert judged.result == "pass"
    kept = store.get_launch(launch.launch_id).artifacts
    assert source.artifacts is not None
    assert kept is not None
    assert kept.backend_digest == source.artifacts.backend_digest
    assert kept.promotion is not None
    assert kept.promotion.chain == [STAGING_LAUNCH]
    assert f"promoted from staging launch {STAGING_LAUNCH}" in store.timeline(launch.launch_id)[-2].message


def test_a_production_launch_of_another_image_than_stagings_is_blocked_naming_both_digests(
    application: Any, store: Any, production: EnvironmentProfile
) -> None:
    source = _staging_succeeded(store, application)
    publish_release(application, "1.2.0")
    launch = _promoted(store, version="1.2.0")
    with pytest.raises(PreflightBlocked) as blocked:
        preflight_stage(store, launch, production, application)
    ours = resolve_artifacts(launch, application, store.clock.now())
    assert source.artifacts is not None
    assert ours.backend_digest != source.artifacts.backend_digest
    said = str(blocked.value)
    assert PROMOTION_CHECK in said
    assert ours.backend_digest in said
    assert source.artifacts.backend_digest in said
    assert store.get_launch(launch.launch_id).artifacts is None  # nothing recorded as what it deploys


def test_a_launch_into_a_promoted_environment_that_names_no_staging_launch_is_blocked_saying_how(
    application: Any, store: Any, production: EnvironmentProfile
) -> None:
    launch = _promoted(store, promote_from=None)
    with pytest.raises(PreflightBlocked, match="launchctl promote LAUNCH_ID --to local"):
        preflight_stage(store, launch, production, application)


def test_a_staging_launch_that_ended_before_the_window_does_not_promote(
    application: Any, store: Any, clock: Any, production: EnvironmentProfile
) -> None:
    _staging_succeeded(store, application)
    clock.advance(73 * 3600)
    launch = _promoted(store)
    with pytest.raises(PreflightBlocked, match="more than 72 hours ago"):
        preflight_stage(store, launch, production, application)


def _windows_closed_now(profile: EnvironmentProfile, clock: Any, emergency: bool = True) -> EnvironmentProfile:
    """The profile with Mon-Fri 09:00-17:00 UTC windows, at a Saturday noon."""
    clock.set(datetime(2026, 12, 5, 12, tzinfo=UTC))
    windows = {
        "time_zone": "UTC",
        "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "opens": "09:00", "closes": "17:00"}],
        **({"emergency": {"role": "incident_commander", "approvers": ["ivy.ic@acme.example"]}} if emergency else {}),
    }
    return profile.model_copy(update={"windows": DeployWindows.model_validate(windows)})


def test_a_launch_outside_its_window_is_blocked_naming_the_next_window(
    application: Any, store: Any, clock: Any, profile: EnvironmentProfile, launch: Launch
) -> None:
    closed = _windows_closed_now(profile, clock)
    preflighting = move_to(store, launch.launch_id, LaunchStatus.PREFLIGHT)
    with pytest.raises(PreflightBlocked, match="next window opens: Mon 2026-12-07 09:00 UTC") as blocked:
        preflight_stage(store, preflighting, closed, application)
    assert "outside the weekly windows (mon, tue, wed, thu, fri 09:00-17:00 UTC)" in str(blocked.value)
    assert store.get_launch(launch.launch_id).emergency is None


def test_an_emergency_outside_its_window_goes_ahead_recorded_and_marked(
    application: Any, store: Any, clock: Any, profile: EnvironmentProfile
) -> None:
    closed = _windows_closed_now(profile, clock)
    launch = _record(store, "local-20261205-120000-eeeeee", "local", emergency_reason="checkout is down for everyone")
    progress = preflight_stage(store, move_to(store, launch.launch_id, LaunchStatus.PREFLIGHT), closed, application)
    assert progress.passed
    kept = store.get_launch(launch.launch_id).emergency
    assert kept is not None
    assert kept.signoff_role == "incident_commander"
    assert kept.reason == "checkout is down for everyone"
    assert kept.next_window_opens == datetime(2026, 12, 7, 9, tzinfo=UTC)
    marked = [event for event in store.timeline(launch.launch_id) if event.kind == "emergency"]
    assert marked[0].message.startswith("EMERGENCY launch outside the deploy windows")
