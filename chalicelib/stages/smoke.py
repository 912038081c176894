"""Smoke: the release answers its health, pages, authentication and WebSocket as expected."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import SmokeTestFailed
from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile, SmokeCheck
from chalicelib.domain.progress import Progress, SmokeProgress, SmokeResult
from chalicelib.stages.functional import start_canaries
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.store import LaunchStore


def _get(url: str, timeout: float, token: str | None = None) -> tuple[int, str, set[str]]:
    """The answer's status, body (its first 64 KiB) and header names (lower case)."""
    headers = {"User-Agent": "launch-controller-smoke/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            names = {name.lower() for name in response.headers}
            return response.status, response.read(65536).decode("utf-8", "replace"), names
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode("utf-8", "replace"), {name.lower() for name in exc.headers}


def _attempt(name: str, target: str, attempts: int, probe: Callable[[], tuple[bool, str]]) -> SmokeResult:
    """Run `probe` until it passes or the attempts are spent, with a short backoff between tries."""
    detail = ""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        passed, detail = probe()
        latency = round((time.monotonic() - started) * 1000, 1)
        if passed:
            return SmokeResult(
                name=name, target=target, passed=True, detail=detail, latency_ms=latency, attempts=attempt
            )
        if attempt < attempts:
            time.sleep(min(0.5 * attempt, 2.0))
    latency = round((time.monotonic() - started) * 1000, 1)
    return SmokeResult(name=name, target=target, passed=False, detail=detail, latency_ms=latency, attempts=attempts)


def check_http(
    base_url: str, check: SmokeCheck, timeout: float, attempts: int, token: str | None = None
) -> SmokeResult:
    url = base_url.rstrip("/") + check.path

    def probe() -> tuple[bool, str]:
        try:
            status, body, headers = _get(url, timeout, token if check.authenticated else None)
        except (OSError, urllib.error.URLError) as exc:
            return False, f"no answer: {exc}"
        if status != check.expect_status:
            return False, f"status {status}, expected {check.expect_status}"
        if check.expect_text is not None and check.expect_text not in body:
            return False, f"status {status} but the body lacks {check.expect_text!r}"
        missing = [name for name in check.expect_headers if name.lower() not in headers]
        if missing:
            return False, f"status {status} but the answer lacks the headers {', '.join(missing)}"
        return True, f"status {status}"

    return _attempt(check.name, url, attempts, probe)


def check_websocket(url: str, timeout: float, attempts: int) -> SmokeResult:
    """Open the socket, send one message, expect it echoed."""
    # websockets: only for a profile that checks a socket.
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    message = "launch-controller-smoke"

    def probe() -> tuple[bool, str]:
        try:
            with connect(url, open_timeout=timeout, close_timeout=timeout) as socket:
                socket.send(message)
                answer = socket.recv(timeout=timeout)
        except (OSError, TimeoutError, WebSocketException) as exc:
            return False, f"no echo: {type(exc).__name__}: {exc}"
        if answer != message:
            return False, f"echo differs: {str(answer)[:80]!r}"
        return True, "handshake and echo"

    return _attempt("websocket", url, attempts, probe)


def smoke_credential(secrets: Any, secret_id: str) -> str:
    """The smoke user's token: the secret's string, or its JSON object's "token"."""
    value: str = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, dict):
        if not isinstance(parsed.get("token"), str):
            raise SmokeTestFailed(f"secret {secret_id} is a JSON object without a string 'token'")
        token: str = parsed["token"]
        return token
    return value


def run_smoke(store: LaunchStore, launch: Launch, profile: EnvironmentProfile, secrets: Any) -> SmokeProgress:
    """Run every smoke check of the profile; any failure raises SmokeTestFailed after recording all."""
    smoke = profile.smoke
    token = smoke_credential(secrets, smoke.credential_secret_id) if smoke.credential_secret_id else None
    results = [
        check_http(str(smoke.base_url), check, smoke.timeout_seconds, smoke.attempts, token) for check in smoke.checks
    ]
    if smoke.websocket_url:
        results.append(check_websocket(smoke.websocket_url, smoke.timeout_seconds, smoke.attempts))
    report = SmokeProgress(checks=results)
    failed = [result for result in results if not result.passed]
    summary = ", ".join(f"{r.name} {'ok' if r.passed else 'FAILED'} ({r.latency_ms:.0f} ms)" for r in results)
    store.append_event(launch.launch_id, "smoke", summary, stage=Stage.SMOKE, details=report.model_dump(mode="json"))
    if failed:
        raise SmokeTestFailed("; ".join(f"{r.name}: {r.detail}" for r in failed), progress=report)
    return report


def _smoke_test_step(call: StageCall) -> Progress:
    """The smoke checks, then the functional tests' canaries started (their runs are waited for next)."""
    smoke = run_smoke(call.store, call.launch, call.profile, call.client("secretsmanager"))
    if call.profile.functional is None:
        return smoke
    return start_canaries(call.store, call.launch, call.profile, smoke, call.client("synthetics"))


SMOKE_TEST = StageSpec(
    "smoke_test",
    Stage.SMOKE,
    _smoke_test_step,
    enters=LaunchStatus.VERIFYING,
    clients=("secretsmanager", "synthetics"),
)
