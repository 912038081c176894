"""Functional tests: the team's Synthetics canaries started after the smoke test, their runs judged (moto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws import synthetics
from localaws.emitters import forget, listen
from localaws.infrastructure import create_canaries
from localaws.synthetics import JourneyResult

from chalicelib.domain.models import Launch, Stage
from chalicelib.domain.profiles import EnvironmentProfile, FunctionalConfig
from chalicelib.domain.progress import SmokeProgress
from chalicelib.domain.service_events import notice_of
from chalicelib.stages.functional import canary_heard, canary_sighting, start_canaries

CANARY = "acme-local-journeys"


@pytest.fixture
def canaries(aws: Any, profile: EnvironmentProfile) -> Iterator[EnvironmentProfile]:
    """The profile with one canary, made in moto; each run passes unless `journeys` says otherwise."""
    named = profile.model_copy(update={"functional": FunctionalConfig(canaries=[CANARY], deadline_seconds=60)})
    create_canaries(aws, named)
    yield named
    synthetics.run_journeys_with(None)


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """The events the local Synthetics emits, as EventBridge would deliver them."""
    heard: list[dict[str, Any]] = []
    listen(heard.append)
    yield heard
    forget(heard.append)


def _smoke() -> SmokeProgress:
    return SmokeProgress(checks=[])


def _started(store: Any, launch: Launch, profile: EnvironmentProfile, aws: Any) -> Launch:
    progress = start_canaries(store, launch, profile, _smoke(), aws("synthetics"))
    store.record_result(launch.launch_id, Stage.SMOKE, progress)
    return store.get_launch(launch.launch_id)


def _wait_for(heard: list[dict[str, Any]], count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(heard) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return heard


def test_each_canary_is_started_once_and_its_run_since_the_release_passes_the_functional_tests(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    synthetics.run_journeys_with(lambda name: JourneyResult(True, "every step passed", ["signed in"]))
    started = _started(store, launch, canaries, aws)
    (run,) = started.results.smoke.canaries
    assert (run.name, run.started, run.state) == (CANARY, True, "waiting")
    assert run.arn == f"arn:aws:synthetics:us-east-1:123456789012:canary:{CANARY}"
    _wait_for(events)
    sighting = canary_sighting(started, canaries, aws("synthetics"))
    assert sighting.resources == [run.arn]
    assert sighting.outcome.verdict == "done"
    (passed,) = sighting.outcome.progress.canaries  # type: ignore[union-attr]
    assert (passed.state, passed.reason) == ("PASSED", "every step passed")
    assert passed.run_id
    assert passed.artifacts.startswith(f"s3://{canaries.frontend.backup_bucket}/canary/{CANARY}/")


def test_a_failed_run_fails_the_functional_tests_with_its_id_and_reason(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    synthetics.run_journeys_with(lambda name: JourneyResult(False, "dashboard data: the orders did not load"))
    started = _started(store, launch, canaries, aws)
    _wait_for(events)
    outcome = canary_sighting(started, canaries, aws("synthetics")).outcome
    assert outcome.verdict == "failed"
    assert outcome.reason.startswith(f"canary {CANARY} run ")
    assert outcome.reason.endswith("failed: dashboard data: the orders did not load")


def test_until_its_run_ends_the_canary_is_waited_for(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    release = threading.Event()

    def slow(name: str) -> JourneyResult:
        release.wait(10)
        return JourneyResult(True, "every step passed")

    synthetics.run_journeys_with(slow)
    started = _started(store, launch, canaries, aws)
    assert canary_sighting(started, canaries, aws("synthetics")).outcome.verdict == "pending"
    # Running, the canary cannot be started again: a retried step keeps the run it started.
    again = start_canaries(store, started, canaries, started.results.smoke, aws("synthetics"))
    assert again.canaries == started.results.smoke.canaries
    release.set()
    _wait_for(events)


def test_a_canary_already_running_on_its_schedule_is_not_started_and_its_next_run_decides(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    release = threading.Event()
    synthetics.run_journeys_with(lambda name: (release.wait(10), JourneyResult(True, "ok"))[1])
    aws("synthetics").start_canary(Name=CANARY)  # its schedule started it before the launch asked
    started = _started(store, launch, canaries, aws)
    assert started.results.smoke.canaries[0].started is False
    release.set()
    _wait_for(events)


def test_a_run_event_decides_the_canary_only_when_the_run_began_after_the_launch_asked(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    synthetics.run_journeys_with(lambda name: JourneyResult(False, "the previous release's run"))
    started = _started(store, launch, canaries, aws)
    event = _wait_for(events)[0]
    notice = notice_of(event)
    assert notice is not None
    assert (notice.kind, notice.verdict, notice.resource) == ("canary", "failed", started.results.smoke.canaries[0].arn)
    assert canary_heard(started, canaries, CANARY, notice.canary_run or {}).verdict == "failed"
    # The same run, had it begun before the launch asked, belongs to the release before: still waiting.
    earlier = dict(notice.canary_run or {})
    earlier["Timeline"] = {"Started": started.results.smoke.canaries[0].since - timedelta(minutes=5)}
    assert canary_heard(started, canaries, CANARY, earlier).verdict == "pending"


def test_of_two_canaries_the_first_to_pass_is_kept_and_the_launch_waits_for_the_other(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    two = canaries.model_copy(update={"functional": FunctionalConfig(canaries=[CANARY, "acme-local-mobile"])})
    create_canaries(aws, two.model_copy(update={"functional": FunctionalConfig(canaries=["acme-local-mobile"])}))
    synthetics.run_journeys_with(lambda name: JourneyResult(True, "ok"))
    started = _started(store, launch, two, aws)
    first = notice_of(_wait_for(events, 2)[0])
    assert first is not None
    outcome = canary_heard(started, two, first.canary_name or "", first.canary_run or {})
    assert outcome.verdict == "pending"
    assert [run.state for run in outcome.progress.canaries].count("PASSED") == 1  # type: ignore[union-attr]


def test_a_canary_the_profile_names_that_does_not_exist_fails_the_step_saying_so(
    aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    missing = profile.model_copy(update={"functional": FunctionalConfig(canaries=["nobody-made-me"])})
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        start_canaries(store, launch, missing, _smoke(), aws("synthetics"))


def test_a_profile_that_makes_the_functional_tests_a_warning_records_a_failed_run_and_goes_on(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    functional = FunctionalConfig(canaries=[CANARY], severity="warning")
    lenient = canaries.model_copy(update={"functional": functional})
    synthetics.run_journeys_with(lambda name: JourneyResult(False, "mobile: wider than a 375 px screen"))
    started = _started(store, launch, lenient, aws)
    _wait_for(events)
    outcome = canary_sighting(started, lenient, aws("synthetics")).outcome
    assert outcome.verdict == "done"
    assert outcome.reason.endswith("failed: mobile: wider than a 375 px screen (functional.canaries is a warning here)")


def test_a_browser_that_breaks_under_a_run_is_started_afresh_and_a_browser_broken_twice_fails_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The site failing a step is a result; the local browser going away is not the release's fault."""
    runner = synthetics.LocalJourney("http://127.0.0.1:1")
    browsers: list[object] = []
    monkeypatch.setattr(runner, "_chromium", lambda: browsers.append(object()) or browsers[-1])
    outcomes = iter([ConnectionError("chromium went away"), JourneyResult(True, "every step passed")])

    def journey(browser: Any, site: str) -> JourneyResult:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(synthetics, "journey", journey)
    assert runner("acme-local-journeys") == JourneyResult(True, "every step passed")
    assert len(browsers) == 2
    outcomes = iter([ConnectionError("gone"), ConnectionError("gone again")])
    failed = runner("acme-local-journeys")
    assert (failed.passed, failed.reason) == (False, "the local Synthetics could not run chromium: gone again")


class RacingStore:
    """The store, but the first read of the launch lets `meanwhile` happen before the reader gets its copy:
    two events handled at the same moment."""

    def __init__(self, store: Any, meanwhile: Any) -> None:
        self._store = store
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_launch(self, launch_id: str) -> Launch:
        read: Launch = self._store.get_launch(launch_id)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return read


def test_two_canaries_passing_at_the_same_moment_are_both_kept_and_answer_the_launch(
    aws: Any, store: Any, launch: Launch, canaries: EnvironmentProfile, events: list[dict[str, Any]]
) -> None:
    from chalicelib.stages.waits import Outcome, Sighting, begin_wait, on_event
    from tests.conftest import RecordingStepFunctions

    two = canaries.model_copy(update={"functional": FunctionalConfig(canaries=[CANARY, "acme-local-mobile"])})
    create_canaries(aws, two.model_copy(update={"functional": FunctionalConfig(canaries=["acme-local-mobile"])}))
    record = launch.model_copy(update={"launch_id": "local-20261128-000001-racing", "profile": two})
    store.create_launch(record)
    synthetics.run_journeys_with(lambda name: JourneyResult(True, "ok"))
    started = _started(store, record, two, aws)
    sfn = RecordingStepFunctions()
    arns = [run.arn for run in started.results.smoke.canaries]  # type: ignore[union-attr]
    waiting = Sighting(resources=arns, outcome=Outcome(verdict="pending", reason="runs going"))
    begin_wait(store, sfn, started, "canary", "token-canaries", 60, waiting)
    first, second = (notice_of(event) for event in _wait_for(events, 2)[:2])
    assert first is not None
    assert second is not None
    # The first event's handler reads the launch, then the second's is handled whole, then the first writes.
    racing = RacingStore(store, lambda: on_event(store, sfn, second))
    on_event(racing, sfn, first)
    runs = store.get_launch(record.launch_id).results.smoke.canaries
    assert [run.state for run in runs] == ["PASSED", "PASSED"]
    assert [kind for kind, _ in sfn.answers] == ["success"]
