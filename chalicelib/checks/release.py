"""The release's own tests: its commit's check runs and statuses on GitHub, read as the team's GitHub App."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.profiles import EnvironmentProfile

GITHUB_API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 5.0
# GitHub refuses an app JWT that lives longer than 10 minutes; it is backdated for clock drift, as GitHub advises.
JWT_SECONDS = 540
JWT_BACKDATE_SECONDS = 60


class GitHubUnreadable(Exception):
    """GitHub did not answer what was asked (refused, not found, unreachable): the check fails and says why."""


@dataclass(frozen=True)
class GitHubApp:
    """The controller's GitHub App: its id and private key, from the controller's Secrets Manager."""

    app_id: str
    private_key: str
    api_url: str = "https://api.github.com"

    def __repr__(self) -> str:  # the key never reaches a log line or a trace
        return f"GitHubApp(app_id={self.app_id!r}, api_url={self.api_url!r})"


def app_from_secret(secrets: Any, secret_id: str, api_url: str) -> GitHubApp:
    """The app's credential, a JSON secret {"app_id": ..., "private_key": "-----BEGIN ..."}."""
    value = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        data = json.loads(value)
        return GitHubApp(app_id=str(data["app_id"]), private_key=str(data["private_key"]), api_url=api_url)
    except (ValueError, KeyError, TypeError) as exc:
        raise GitHubUnreadable(
            f'the GitHub App credential in {secret_id} is not set: put {{"app_id": ..., "private_key": ...}}'
        ) from exc


def app_reader(
    secrets: Callable[[], Any], secret_id: str, profile: EnvironmentProfile
) -> Callable[[], GitHubApp] | None:
    """What reads the app's credential, at the GitHub the profile names, when the check needs it; None when
    the deployment names no credential or the profile reads no release checks."""
    checks = profile.preflight.release_checks
    if not secret_id or checks is None:
        return None
    return lambda: app_from_secret(secrets(), secret_id, str(checks.api_url))


def app_jwt(app: GitHubApp, now: float | None = None) -> str:
    """A short-lived JWT that proves the app (RS256 over its private key), for GitHub's /app endpoints."""
    import jwt  # PyJWT with cryptography: loaded only by the check that talks to GitHub

    issued = int(now if now is not None else time.time()) - JWT_BACKDATE_SECONDS
    claims = {"iat": issued, "exp": issued + JWT_BACKDATE_SECONDS + JWT_SECONDS, "iss": app.app_id}
    return jwt.encode(claims, app.private_key, algorithm="RS256")


def _call(app: GitHubApp, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        app.api_url.rstrip("/") + path,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
            "User-Agent": "launch-controller",
            **({"Content-Type": "application/json"} if body is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        message = refused.read(500).decode(errors="replace")
        raise GitHubUnreadable(f"GitHub answered {refused.code} to {path.split('?')[0]}: {message}") from None
    except (OSError, ValueError) as exc:
        raise GitHubUnreadable(f"GitHub could not be read at {app.api_url}: {exc}") from None


# What the checks read (a commit's check runs and statuses), and what the approvers' view of the change reads.
READ_CHECKS = {"checks": "read", "statuses": "read"}
READ_CONTENTS = {"contents": "read"}


def installation_token(app: GitHubApp, repository: str, permissions: dict[str, str] | None = None) -> str:
    """A token of the app's installation on the repository, narrowed to `permissions` (reading its checks and
    statuses unless named; it lives an hour at most and is never logged or stored)."""
    proof = app_jwt(app)
    installation = _call(app, f"/repos/{repository}/installation", proof)["id"]
    granted = _call(
        app,
        f"/app/installations/{installation}/access_tokens",
        proof,
        body={"repositories": [repository.split("/", 1)[1]], "permissions": permissions or READ_CHECKS},
    )
    token: str = granted["token"]
    return token


@dataclass(frozen=True)
class CommitCheck:
    """One check run or commit status of the commit, as GitHub has it now."""

    name: str
    kind: str  # check_run or status
    state: str  # success, failure, ..., or in_progress / queued / pending while it runs
    url: str
    sha: str

    @property
    def passed(self) -> bool:
        return self.state == "success"


def commit_checks(app: GitHubApp, token: str, repository: str, sha: str) -> dict[str, CommitCheck]:
    """The commit's latest check run per name and latest status per context (a re-run replaces a run)."""
    found: dict[str, CommitCheck] = {}
    page = 1
    while True:
        runs = _call(app, f"/repos/{repository}/commits/{sha}/check-runs?filter=latest&per_page=100&page={page}", token)
        for run in runs.get("check_runs", []):
            state = run.get("conclusion") or run.get("status") or "unknown"
            found[run["name"]] = CommitCheck(run["name"], "check_run", state, run.get("html_url", ""), run["head_sha"])
        if page * 100 >= runs.get("total_count", 0):
            break
        page += 1
    combined = _call(app, f"/repos/{repository}/commits/{sha}/status?per_page=100", token)
    for status in combined.get("statuses", []):
        name = status["context"]
        if name not in found:  # a check run of the same name is the richer record
            found[name] = CommitCheck(name, "status", status["state"], status.get("target_url") or "", combined["sha"])
    return found


# How many of the commits between two releases an approver is shown (GitHub's compare lists up to 250).
COMMITS_SHOWN = 50


def compare(app: GitHubApp, token: str, repository: str, base: str, head: str) -> dict[str, Any]:
    """The commits from `base` (what is live) to `head` (the release): how many, the newest COMMITS_SHOWN
    (sha, first line, author), and GitHub's page of the comparison."""
    found = _call(app, f"/repos/{repository}/compare/{base}...{head}", token)
    commits = [
        {
            "sha": str(item["sha"]),
            "title": str(item.get("commit", {}).get("message", "")).split("\n", 1)[0][:200],
            "author": str((item.get("commit", {}).get("author") or {}).get("name", "")),
        }
        for item in reversed(found.get("commits", []))
    ]
    return {
        "total": int(found.get("total_commits", len(commits))),
        "commits": commits[:COMMITS_SHOWN],
        "url": str(found.get("html_url") or f"https://github.com/{repository}/compare/{base}...{head}"),
    }
