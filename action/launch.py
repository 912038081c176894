"""The GitHub Action's step: start a launch with the job's OIDC token, follow it, exit 0 only on SUCCEEDED.

The launch is recorded as a GitHub deployment of the commit to the environment, its statuses following
the launch; a cancelled job aborts its launch. Standard library only: it runs on any runner's python3."""

from __future__ import annotations

import json
import os
import re
import signal
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


class Cancelled(Exception):
    """The runner is stopping the step: the job was cancelled."""


# The deployment's state on GitHub for each of the launch's statuses.
DEPLOYMENT_STATES = {
    "REQUESTED": "queued",
    "PREFLIGHT": "queued",
    "AWAITING_APPROVAL": "queued",
    "DEPLOYING": "in_progress",
    "VERIFYING": "in_progress",
    "BAKING": "in_progress",
    "ROLLING_BACK": "in_progress",
    "SUCCEEDED": "success",
}


class GitHubDeployment:
    """The launch as a deployment of the commit to the environment on the repository's Deployments page.

    Recording it is secondary to the launch: a GitHub API that refuses (no `deployments: write`) is a
    warning, and the launch goes on."""

    def __init__(self, api_url: str, token: str, repository: str, sha: str, environment: str, site: str) -> None:
        self._base = f"{api_url.rstrip('/')}/repos/{repository}"
        self._token, self._sha, self._environment, self._site = token, sha, environment, site
        self._id: int | None = None
        self._log_url = ""
        self.state = ""

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self._base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def record(self, launch_id: str, log_url: str) -> bool:
        """Find this launch's deployment (a re-run step finds it, and its state) or create it; True if made."""
        self._log_url = log_url
        try:
            query = urllib.parse.urlencode({"sha": self._sha, "environment": self._environment})
            found = [
                d
                for d in self._call("GET", f"/deployments?{query}")
                if d.get("payload", {}).get("launch_id") == launch_id
            ]
            if found:
                self._id = int(found[0]["id"])
                latest = self._call("GET", f"/deployments/{self._id}/statuses")
                self.state = latest[0]["state"] if latest else ""
                return False
            created = self._call(
                "POST",
                "/deployments",
                {
                    "ref": self._sha,
                    "environment": self._environment,
                    "description": f"launch {launch_id}",
                    "payload": {"launch_id": launch_id},
                    "auto_merge": False,
                    "required_contexts": [],  # the controller's preflight checks the release, not GitHub's contexts
                    "production_environment": self._environment == "production",
                },
            )
            self._id = int(created["id"])
            print(f"  GitHub deployment {self._id} of {self._sha[:12]} to {self._environment}", flush=True)
            return True
        except (OSError, ValueError, KeyError) as exc:
            print(f"::warning::the launch is not recorded as a GitHub deployment: {exc}", flush=True)
            return False

    def follow(self, status: str, description: str = "") -> None:
        """Set the deployment's state for the launch's status, once per change."""
        state = DEPLOYMENT_STATES.get(status, "failure")
        self.set(state, description or f"launch {status}")

    def set(self, state: str, description: str) -> None:
        if self._id is None or state == self.state:
            return
        body = {
            "state": state,
            "log_url": self._log_url,
            "description": _inert(description, 140),
            "auto_inactive": True,
        }
        if self._site:
            body["environment_url"] = self._site
        try:
            self._call("POST", f"/deployments/{self._id}/statuses", body)
            self.state = state
        except (OSError, ValueError) as exc:
            print(f"::warning::the GitHub deployment's status could not be set to {state}: {exc}", flush=True)


# The action runs on the job's runner with the standard library alone, so it carries its own copy of
# chalicelib.domain.caller_text.plain: no control characters (a newline would start a workflow command), no marks that
# reorder text, one line, cut to the output's length (tests/unit/domain/test_caller_text.py holds the two alike).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x85]+")
_STEERING = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _inert(text: str, limit: int) -> str:
    cleaned = _CONTROLS.sub("", _LINE_BREAKS.sub(" ", _STEERING.sub("", text))).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: max(0, limit - 1)].rstrip() + "…"


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


def follow(
    api: str, token: OidcToken, launch_id: str, poll: float, deadline: float, deployment: GitHubDeployment | None
) -> dict[str, Any]:
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
        if deployment is not None:
            cause = (launch.get("error") or {}).get("cause", "")
            deployment.follow(launch["status"], f"launch {launch['status']}" + (f": {cause}" if cause else ""))
        if launch["status"] in FINAL or time.monotonic() > deadline:
            return launch
        time.sleep(poll)


def _cancelled(signum: int, _frame: Any) -> None:
    raise Cancelled(signal.Signals(signum).name)


def main() -> int:
    api = _input("API_URL")
    # The controller expects its API's host unless its stack names another audience (OidcAudience).
    token = OidcToken(_input("AUDIENCE", "") or urllib.parse.urlsplit(api).netloc)
    request = {
        "environment": _input("ENVIRONMENT"),
        "version": _input("VERSION"),
        "git_sha": _input("GIT_SHA", os.environ.get("GITHUB_SHA")),
        "frontend_artifact": _input("FRONTEND_ARTIFACT"),
        "backend_image": _input("BACKEND_IMAGE"),
    }
    promote_from = _input("PROMOTE_FROM", "")
    if promote_from:  # the staging launch this release is promoted from (the profile's [promotion])
        request["promote_from"] = promote_from
    emergency = _input("EMERGENCY_REASON", "")
    if emergency:  # it cannot wait for the deploy window (the profile's [windows])
        request["emergency_reason"] = emergency
    # A re-run of the same attempt (a retried step) finds its launch; a new attempt is a new launch.
    run = [os.environ.get(name, "local") for name in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT")]
    try:
        started = call(api, token, "POST", "/launches", request, {"Idempotency-Key": f"github/{'/'.join(run)}"})
    except Refused as refused:
        print(f"::error::the controller refused the launch: {refused}", flush=True)
        return 1
    launch_id = started["launch_id"]
    _output("launch-id", launch_id)
    print(f"launch {launch_id}: {request['version']} into {request['environment']} ({started['status']})", flush=True)
    # The runner stops a cancelled job's step with SIGINT, then SIGTERM: either aborts the launch.
    signal.signal(signal.SIGINT, _cancelled)
    signal.signal(signal.SIGTERM, _cancelled)
    deployment = None
    try:
        page = _page(api, token, launch_id)
        _output("page-url", page)
        github_token = _input("GITHUB_TOKEN", "")
        if github_token:
            deployment = GitHubDeployment(
                os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                github_token,
                run[0],
                request["git_sha"],
                request["environment"],
                _input("ENVIRONMENT_URL", ""),
            )
            if deployment.record(launch_id, page):
                deployment.set("queued", "the launch checks the environment and waits for sign-off")
        if _input("WAIT", "true").lower() == "false":
            _output("status", started["status"])
            print(f"launch {launch_id} started; not waiting for it (the deployment stays as it is): {page}", flush=True)
            return 0
        deadline = time.monotonic() + float(_input("TIMEOUT_MINUTES", "240")) * 60
        launch = follow(api, token, launch_id, float(_input("POLL_SECONDS", "15")), deadline, deployment)
    except Cancelled as stopped:
        return _abort(api, token, launch_id, deployment, run, str(stopped))
    _output("status", launch["status"])
    _summary(launch)
    if launch["status"] == "SUCCEEDED":
        print(f"launch {launch_id} SUCCEEDED", flush=True)
        return 0
    if launch["status"] not in FINAL:
        print(f"::error::launch {launch_id} is still {launch['status']} after the timeout; it goes on", flush=True)
        return 1
    cause = (launch.get("error") or {}).get("cause", "")
    # A cause may carry a caller's words: one line, so it cannot start a workflow command of its own.
    print(f"::error::launch {launch_id} ended {launch['status']}: {_inert(cause, 1000)}", flush=True)
    return 1


def _page(api: str, token: OidcToken, launch_id: str) -> str:
    """The launch page's signed link (the deployment's log): the job's identity may read its launch."""
    try:
        link = call(api, token, "GET", f"/launches/{urllib.parse.quote(launch_id)}/view-link")
    except Refused as refused:
        print(f"::warning::no link to the launch page: {refused}", flush=True)
        return ""
    print(f"launch page: {link['url']}", flush=True)
    return str(link["url"])


def _abort(
    api: str, token: OidcToken, launch_id: str, deployment: GitHubDeployment | None, run: list[str], why: str
) -> int:
    """The job was cancelled: its launch is aborted (it stops, or rolls back what it changed), and says so."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner's second signal must not stop the abort
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reason = f"the GitHub job was cancelled ({why}; run {run[1]} attempt {run[2]} of {run[0]})"
    try:
        call(api, token, "POST", f"/launches/{urllib.parse.quote(launch_id)}/abort", {"reason": reason})
        print(f"::error::job cancelled: launch {launch_id} aborted", flush=True)
    except Refused as refused:  # it had ended already, or may not be aborted any more
        print(f"::error::job cancelled; the launch could not be aborted: {refused}", flush=True)
    if deployment is not None:
        deployment.set("error", "job cancelled: the launch was aborted")
    _output("status", "ABORTED")
    return 1


if __name__ == "__main__":
    sys.exit(main())
