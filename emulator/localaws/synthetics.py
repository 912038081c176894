"""CloudWatch Synthetics locally: StartCanary runs the canary's journey in headless Chromium against the sample
site, GetCanaryRuns answers its runs, and each run's end is the EventBridge event Synthetics emits.

moto keeps canaries but never runs one (no StartCanary, no GetCanaryRuns). Here a started canary runs once, in
the background as Synthetics does: the local journey, not the canary's own script (which is the team's code
on AWS), signs in, waits for the dashboard's data and its live update over the WebSocket, follows the
navigation, all in a phone's 375 px viewport. A release can be made to fail it (the sample site's
`broken_journey_images`)."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localaws import emitters
from localaws.eventbridge import service_event

logger = logging.getLogger(__name__)
PHONE = (375, 667)
# How long a step may take to show on the page: generous, since a busy machine paints slowly and a step that
# fails says so at once (the dashboard marks a failed data request).
STEP_SECONDS = 15.0


@dataclass
class JourneyResult:
    passed: bool
    reason: str
    steps: list[str] = field(default_factory=list)


Journey = Callable[[str], JourneyResult]  # canary name -> how its run went

_journey: Journey | None = None
_installed = False


def run_journeys_with(journey: Journey | None) -> None:
    """What a started canary runs (the stack's journey); None: a started canary's run fails, saying so."""
    global _journey
    install()
    _journey = journey


def install() -> None:
    """StartCanary, GetCanaryRuns and a missing canary's 404, added to moto's Synthetics."""
    global _installed
    if _installed:
        return
    from moto.core.exceptions import JsonRESTError
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.synthetics import urls
    from moto.synthetics.models import SyntheticsBackend
    from moto.synthetics.responses import SyntheticsResponse

    urls.url_paths["{0}/canary/(?P<name>[^/]+)/start$"] = SyntheticsResponse.dispatch
    urls.url_paths["{0}/canary/(?P<name>[^/]+)/runs$"] = SyntheticsResponse.dispatch

    def canary_of(backend: SyntheticsBackend, name: str) -> Any:
        if name not in backend.canaries:
            raise JsonRESTError("ResourceNotFoundException", f"Canary {name} does not exist.")
        return backend.canaries[name]

    def name_in_path(response: SyntheticsResponse) -> str:
        parts = response.path.rstrip("/").split("/")
        return parts[parts.index("canary") + 1]

    def get_canary(self: SyntheticsResponse) -> str:
        import json

        return json.dumps({"Canary": canary_of(self.synthetics_backend, name_in_path(self)).to_dict()})

    def start_canary(self: SyntheticsResponse) -> str:
        backend = self.synthetics_backend
        canary = canary_of(backend, name_in_path(self))
        if canary.state == "RUNNING":
            raise JsonRESTError("ConflictException", f"Canary {canary.name} is already running.")
        canary.state = "RUNNING"
        canary.timeline["LastStarted"] = datetime.now(UTC)
        threading.Thread(target=_run, args=(backend, canary), name=f"canary-{canary.name}", daemon=True).start()
        return "{}"

    def get_canary_runs(self: SyntheticsResponse) -> str:
        import json

        canary = canary_of(self.synthetics_backend, name_in_path(self))
        limit = int(json.loads(self.body or "{}").get("MaxResults") or 20)
        runs = sorted(getattr(canary, "runs", []), key=lambda run: run["started"], reverse=True)[:limit]
        return json.dumps(
            {
                "CanaryRuns": [
                    {
                        "Id": run["id"],
                        "Name": canary.name,
                        "Status": {"State": run["state"], "StateReason": run["reason"]},
                        "Timeline": {
                            "Started": iso_8601_datetime_with_milliseconds(run["started"]),
                            "Completed": iso_8601_datetime_with_milliseconds(run["completed"]),
                        },
                        "ArtifactS3Location": run["artifacts"],
                    }
                    for run in runs
                ]
            }
        )

    SyntheticsResponse.get_canary = get_canary  # type: ignore[method-assign]
    SyntheticsResponse.start_canary = start_canary  # type: ignore[attr-defined]
    SyntheticsResponse.get_canary_runs = get_canary_runs  # type: ignore[attr-defined]
    _installed = True


def _run(backend: Any, canary: Any) -> None:
    """One run of the canary, then its record and its event; a once-only canary (rate(0 minute)) stops."""
    started = datetime.now(UTC)
    try:
        result = _journey(canary.name) if _journey is not None else JourneyResult(False, "no local journey runner")
    except Exception as exc:  # a run that breaks is a failed run, as on Synthetics
        logger.debug("the canary's journey broke", exc_info=True)
        result = JourneyResult(False, f"the journey broke: {exc}")
    completed = datetime.now(UTC)
    run_id = str(uuid.uuid4())
    artifacts = f"{canary.artifact_s3_location.rstrip('/')}/{started:%Y/%m/%d/%H/%M-%S}-{run_id[:8]}"
    state = "PASSED" if result.passed else "FAILED"
    run = {
        "id": run_id,
        "state": state,
        "reason": result.reason,
        "started": started,
        "completed": completed,
        "artifacts": artifacts,
        "steps": result.steps,
    }
    canary.runs = [*getattr(canary, "runs", []), run]
    canary.timeline["LastStopped"] = completed
    if str(canary.schedule.get("Expression", "")).replace(" ", "") == "rate(0minute)":
        canary.state = "STOPPED"
    emitters.emit(
        service_event(
            "aws.synthetics",
            f"Synthetics Canary TestRun {'Successful' if result.passed else 'Failure'}",
            backend.account_id,
            backend.region_name,
            [],
            {
                "account-id": backend.account_id,
                "canary-id": canary.id,
                "canary-name": canary.name,
                "canary-run-id": run_id,
                "artifact-location": artifacts,
                "test-run-status": state,
                "state-reason": result.reason,
                "canary-run-timeline": {  # epoch seconds, as AWS's example event writes them
                    "started": int(started.timestamp()),
                    "completed": int(completed.timestamp()),
                },
                "message": f"Test run result is generated successfully ({'; '.join(result.steps)})",
            },
        )
    )


class LocalJourney:
    """The sample site's user journey in one headless Chromium, kept for the stack's life (a run at a time)."""

    def __init__(self, site_url: str) -> None:
        self._site_url = site_url
        self._browser: Any = None
        self._lock = threading.Lock()

    def __call__(self, canary: str) -> JourneyResult:
        """One run; a browser that broke under it (not the site failing a step) is started afresh and the
        journey run once more, as Synthetics runs each canary in a browser of its own."""
        with self._lock:
            try:
                return journey(self._chromium(), self._site_url)
            except Exception:  # the browser, not the site (a failed step is a result): start it afresh
                logger.debug("the journey's browser broke; starting another", exc_info=True)
                self._discard()
            try:
                return journey(self._chromium(), self._site_url)
            except Exception as exc:  # noqa: BLE001 - broken twice: the run fails, saying so
                self._discard()
                return JourneyResult(False, f"the local Synthetics could not run chromium: {exc}")

    def _discard(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()
            self._browser = None

    def _chromium(self) -> Any:
        from localaws.browser import Chromium

        if self._browser is None:
            self._browser = Chromium()
        return self._browser

    def close(self) -> None:
        with self._lock:
            self._discard()


def journey(browser: Any, site: str) -> JourneyResult:
    """Sign in, see the dashboard's data and a live update, navigate home: on a phone's screen."""
    steps: list[str] = []

    def failed(reason: str) -> JourneyResult:
        return JourneyResult(False, reason, steps)

    browser.send("Network.clearBrowserCookies")
    browser.viewport(*PHONE, mobile=True)
    browser.open(f"{site}/login")
    if not browser.wait_until("document.querySelector('#sign-in')", STEP_SECONDS):
        return failed("registration/login: no sign-in form at /login")
    browser.run(
        "document.querySelector('#email').value = 'synthetics@acme.example';"
        "document.querySelector('#password').value = 'canary-password'"
    )
    browser.click_and_wait("#sign-in")
    if not browser.wait_until("location.pathname === '/dashboard'", STEP_SECONDS):
        return failed("registration/login: signing in did not lead to the dashboard")
    steps.append("signed in")
    orders = "document.querySelector('#orders')"
    browser.wait_until(f"{orders}.children.length > 0 || {orders}.dataset.error", STEP_SECONDS)
    if not browser.run(f"{orders}.children.length > 0"):
        error = browser.run(f"{orders}.dataset.error")
        return failed(f"dashboard data: the orders did not load (the API answered {error or 'nothing'})")
    steps.append("dashboard data loaded")
    if not browser.wait_until("document.querySelector('#live').textContent === 'live'", STEP_SECONDS):
        return failed("real-time updates: no message over the WebSocket")
    steps.append("live update received")
    if browser.run("document.documentElement.scrollWidth > window.innerWidth"):
        return failed(f"mobile: the dashboard is wider than a {PHONE[0]} px screen")
    steps.append(f"fits a {PHONE[0]} px screen")
    browser.click_and_wait("#home")
    if not browser.wait_until("location.pathname === '/'", STEP_SECONDS):
        return failed("navigation: the Home link did not lead home")
    steps.append("navigated home")
    return JourneyResult(True, "every step passed", steps)
