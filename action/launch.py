"""The GitHub Action's step: start a launch with the job's OIDC token, follow it, exit 0 only on SUCCEEDED.

Standard library only: it runs on any runner's python3 with nothing installed."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FINAL = {"SUCCEEDED", "ROLLED_BACK", "ROLLBACK_FAILED", "BLOCKED", "REJECTED", "EXPIRED", "ABORTED", "FAILED"}
TOKEN_LIFETIME = 240  # GitHub's tokens last about 5 minutes; a launch lasts hours: fetch a fresh one before then


class Refused(Exception):
    """The controller refused the request (4xx); retrying will not help."""


def _input(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"LAUNCH_{name}", "").strip() or default
    if value is None:
        raise SystemExit(f"::error::input {name.lower().replace('_', '-')} is required")
    return value


class OidcToken:
    """The job's OIDC token for the controller's audience, from the runner's token endpoint."""

    def __init__(self, audience: str) -> None:
        url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        request_token = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not url or not request_token:
            raise SystemExit("::error::no OIDC token available: the job needs `permissions: id-token: write`")
        separator = "&" if "?" in url else "?"
        self._url = f"{url}{separator}audience={urllib.parse.quote(audience)}"
        self._request_token = request_token
        self._token = ""
        self._fetched = 0.0

    def __call__(self, fresh: bool = False) -> str:
        if fresh or time.monotonic() - self._fetched > TOKEN_LIFETIME:
            request = urllib.request.Request(self._url, headers={"Authorization": f"bearer {self._request_token}"})
            with urllib.request.urlopen(request, timeout=15) as answer:
                self._token = json.loads(answer.read())["value"]
            self._fetched = time.monotonic()
        return self._token


def call(api: str, token: OidcToken, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
    """One API call; transient failures (5xx, network) are retried, a 401 once with a fresh token."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(6):
        request = urllib.request.Request(
            api.rstrip("/") + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {token(fresh=attempt > 0)}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            error = _error(exc)
            if exc.code >= 500 or (exc.code == 401 and attempt == 0):
                print(f"  (the controller answered {exc.code}: {error}; retrying)", flush=True)
            else:
                raise Refused(f"{exc.code} {error}") from None
        except OSError as exc:
            print(f"  (could not reach the controller: {exc}; retrying)", flush=True)
        time.sleep(min(2**attempt, 30))
    raise SystemExit(f"::error::the controller at {api} did not answer after 6 attempts")


def _error(exc: urllib.error.HTTPError) -> str:
    raw = exc.read()
    try:
        error = json.loads(raw)["error"]
        return f"{error.get('code')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace")[:300]


def _output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{name}={value}\n")


def _summary(launch: dict[str, Any]) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    lines = [
        f"### Launch {launch['launch_id']}: {launch['status']}",
        "",
        f"{launch['request']['version']} into {launch['request']['environment']}, requested by "
        f"{launch.get('requested_by')}",
        "",
        "| time | stage | what happened |",
        "| --- | --- | --- |",
    ]
    for event in launch.get("timeline", []):
        message = str(event["message"]).replace("|", "\\|")
        lines.append(f"| {event['at'][11:19]} | {event.get('stage') or ''} | {message} |")
    with open(path, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def follow(api: str, token: OidcToken, launch_id: str, poll: float, deadline: float) -> dict[str, Any]:
    """Print each new timeline event and each change of the approval requests until the launch ends."""
    seen, approvals = 0, ""
    while True:
        launch = call(api, token, "GET", f"/launches/{urllib.parse.quote(launch_id)}")
        for event in launch.get("timeline", [])[seen:]:
            print(f"  {event['at'][11:19]}  {(event.get('stage') or '-'):<15} {event['message']}", flush=True)
        seen = len(launch.get("timeline", []))
        state = ", ".join(f"{r['role']}: {r['state']}" for r in launch.get("approval_requests", []))
        if state and state != approvals:
            print(f"  approvals: {state}", flush=True)
            approvals = state
        if launch["status"] in FINAL or time.monotonic() > deadline:
            return launch
        time.sleep(poll)


def main() -> int:
    api = _input("API_URL")
    token = OidcToken(_input("AUDIENCE", "launch-controller"))
    request = {
        "environment": _input("ENVIRONMENT"),
        "version": _input("VERSION"),
        "git_sha": _input("GIT_SHA", os.environ.get("GITHUB_SHA")),
        "frontend_artifact": _input("FRONTEND_ARTIFACT"),
        "backend_image": _input("BACKEND_IMAGE"),
    }
    # A re-run of the same attempt (a retried step) finds its launch; a new attempt is a new launch.
    key = "/".join(
        os.environ.get(name, "local") for name in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT")
    )
    try:
        started = call(api, token, "POST", "/launches", request, {"Idempotency-Key": f"github/{key}"})
    except Refused as refused:
        print(f"::error::the controller refused the launch: {refused}", flush=True)
        return 1
    launch_id = started["launch_id"]
    _output("launch-id", launch_id)
    print(f"launch {launch_id}: {request['version']} into {request['environment']} ({started['status']})", flush=True)
    deadline = time.monotonic() + float(_input("TIMEOUT_MINUTES", "240")) * 60
    launch = follow(api, token, launch_id, float(_input("POLL_SECONDS", "15")), deadline)
    _output("status", launch["status"])
    _summary(launch)
    if launch["status"] == "SUCCEEDED":
        print(f"launch {launch_id} SUCCEEDED", flush=True)
        return 0
    if launch["status"] not in FINAL:
        print(f"::error::launch {launch_id} is still {launch['status']} after the timeout; it goes on", flush=True)
        return 1
    cause = (launch.get("error") or {}).get("cause", "")
    print(f"::error::launch {launch_id} ended {launch['status']}: {cause}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
