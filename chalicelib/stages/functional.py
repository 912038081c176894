"""Functional tests after the smoke test: the team's CloudWatch Synthetics canaries, each run against the release."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.models import Launch, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import CanaryRun, SmokeProgress
from chalicelib.domain.service_events import Notice
from chalicelib.stages.wait_outcomes import Outcome, Sighting
from chalicelib.store import LaunchStore, Wait

# A run Synthetics stamps a little before our clock's `since` (the two clocks differ) still counts.
CLOCK_SKEW = timedelta(seconds=2)


def canary_arn(account: str, region: str, name: str) -> str:
    """The canary's ARN, as its run events name it (the environment's account, the client's region)."""
    return f"arn:aws:synthetics:{region}:{account}:canary:{name}"


def start_canaries(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, smoke: SmokeProgress, synthetics: Any
) -> SmokeProgress:
    """Start each canary of the profile once (StartCanary); a canary already running on its own schedule is
    not started again, its next run is the one waited for. A retried step keeps the runs it started."""
    functional = profile.functional
    if functional is None:
        return smoke
    if smoke.canaries:
        return smoke
    since = store.clock.now()
    runs = []
    for name in functional.canaries:
        canary = synthetics.get_canary(Name=name)["Canary"]
        running = canary.get("Status", {}).get("State") == "RUNNING"
        if not running:
            try:
                synthetics.start_canary(Name=name)
            except synthetics.exceptions.ConflictException:
                running = True  # it began to run meanwhile: its run after `since` decides as well
        arn = canary_arn(profile.target.account_id, synthetics.meta.region_name, name)
        runs.append(CanaryRun(name=name, arn=arn, since=since, started=not running))
    store.append_event(
        launch.launch_id,
        "functional_started",
        "functional tests: "
        + ", ".join(f"{run.name} {'started' if run.started else 'runs on its schedule'}" for run in runs),
        stage=Stage.SMOKE,
        details={"canaries": [run.model_dump(mode="json") for run in runs]},
    )
    return smoke.model_copy(update={"canaries": runs})


def _decided(run: CanaryRun, found: dict[str, Any]) -> CanaryRun:
    status = found.get("Status", {})
    return run.model_copy(
        update={
            "state": status["State"],
            "run_id": found.get("Id"),
            "reason": status.get("StateReason") or ("passed" if status["State"] == "PASSED" else "failed"),
            "artifacts": found.get("ArtifactS3Location"),
        }
    )


def _first_run_since(synthetics: Any, run: CanaryRun) -> dict[str, Any] | None:
    """The canary's first finished run that started after the launch asked for it."""
    runs = synthetics.get_canary_runs(Name=run.name, MaxResults=20).get("CanaryRuns", [])
    finished = {
        started: found
        for found in runs
        if found.get("Status", {}).get("State") in {"PASSED", "FAILED"}
        and (started := _started(found)) is not None
        and _counts(started, run)
    }
    return finished[min(finished)] if finished else None


def _started(found: dict[str, Any]) -> datetime | None:
    started = found.get("Timeline", {}).get("Started")
    return started if isinstance(started, datetime) else None


def _counts(started: datetime, run: CanaryRun) -> bool:
    """A run counts for the launch when it began after the launch asked (the clocks' skew allowed)."""
    return started >= run.since - CLOCK_SKEW


def outcome_of(smoke: SmokeProgress, profile: EnvironmentProfile) -> Outcome:
    """Failed when any run failed (done, said, when the profile makes the functional tests a warning); done
    when every run passed; pending otherwise."""
    failed = [run for run in smoke.canaries if run.state == "FAILED"]
    waiting = [run.name for run in smoke.canaries if run.state == "waiting"]
    said = "; ".join(f"canary {run.name} run {run.run_id} failed: {run.reason}" for run in failed)
    warning = profile.functional is not None and profile.functional.severity == "warning"
    if failed and not warning:
        return Outcome(verdict="failed", reason=said, progress=smoke)
    if waiting:
        return Outcome(verdict="pending", reason=f"waiting for {', '.join(waiting)}", progress=smoke)
    if failed:
        return Outcome(verdict="done", reason=f"{said} (functional.canaries is a warning here)", progress=smoke)
    passed = ", ".join(f"{run.name} ({run.run_id})" for run in smoke.canaries)
    return Outcome(verdict="done", reason=f"functional tests passed: {passed}", progress=smoke)


def canary_sighting(launch: Launch, profile: EnvironmentProfile, synthetics: Any) -> Sighting:
    """Each canary's first run since the launch asked, as Synthetics has it now."""
    smoke = launch.results.smoke
    assert smoke is not None, "the canaries are waited for after the smoke test started them"
    runs = []
    for run in smoke.canaries:
        found = _first_run_since(synthetics, run) if run.state == "waiting" else None
        runs.append(_decided(run, found) if found is not None else run)
    seen = smoke.model_copy(update={"canaries": runs})
    return Sighting(resources=[run.arn for run in smoke.canaries], outcome=outcome_of(seen, profile))


def canary_heard(launch: Launch, profile: EnvironmentProfile, name: str, run: dict[str, Any]) -> Outcome:
    """What a canary's run event means for the launch: its run decides the canary when it started after the
    launch asked (an earlier run, of the previous release, is not the release's)."""
    smoke = launch.results.smoke
    assert smoke is not None, "a canary wait follows the smoke test"
    runs = []
    for known in smoke.canaries:
        started = _started(run)
        if known.name == name and known.state == "waiting" and started is not None and _counts(started, known):
            runs.append(_decided(known, run))
        else:
            runs.append(known)
    return outcome_of(smoke.model_copy(update={"canaries": runs}), profile)


def canary_run_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """Synthetics' event: a canary's run ended."""
    return canary_heard(launch, profile, notice.canary_name or "", notice.canary_run or {})
