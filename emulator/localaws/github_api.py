"""A small stand-in for GitHub's REST API: the repository's deployments and their statuses, as the action
records a launch (POST/GET /repos/{owner}/{repo}/deployments, POST/GET .../deployments/{id}/statuses); and,
for a GitHub App, the commit's check runs and statuses (GET /repos/{owner}/{repo}/commits/{ref}/check-runs
and .../status) behind an installation token (GET /repos/{owner}/{repo}/installation, POST
/app/installations/{id}/access_tokens, each proved by the app's RS256 JWT).

It checks what GitHub checks that matters here: the token or the app's JWT, the JSON body, the fields'
values. The tests control the commits' checks (`record_checks`); a commit nothing was recorded for has the
`default_checks`, as if the repository's CI ran on it."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localaws.servers import JsonHandler, LoopbackServer

STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
_DEPLOYMENTS = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/deployments$")
_STATUSES = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/deployments/(\d+)/statuses$")
_INSTALLATION = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/installation$")
_ACCESS_TOKENS = re.compile(r"^/app/installations/(\d+)/access_tokens$")
_CHECK_RUNS = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/commits/([0-9a-f]{7,40})/check-runs$")
_COMBINED_STATUS = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/commits/([0-9a-f]{7,40})/status$")
_COMPARE = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/compare/([0-9a-f]{7,40})\.\.\.([0-9a-f]{7,40})$")
# GitHub refuses an app JWT that lives longer than ten minutes.
JWT_MAX_SECONDS = 600


@dataclass
class Deployment:
    id: int
    repository: str
    ref: str
    environment: str
    payload: dict[str, Any]
    description: str
    production_environment: bool
    statuses: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha": self.ref,
            "ref": self.ref,
            "environment": self.environment,
            "payload": self.payload,
            "description": self.description,
            "production_environment": self.production_environment,
        }


def app_key_pair() -> tuple[str, str]:
    """A GitHub App's RSA key pair as GitHub hands them out: (private key PEM, public key PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class GitHubAppIdentity:
    """A GitHub App as GitHub knows it: its id, its public key, the repositories it is installed on."""

    app_id: str
    public_key_pem: str
    installations: dict[str, int]  # owner/name -> installation id


class LocalGitHubApi:
    """Serves the deployments API for the repositories, to callers with `token`; with `app`, the commits'
    checks to that app's installation tokens."""

    def __init__(
        self, token: str, host: str = "127.0.0.1", port: int = 0, app: GitHubAppIdentity | None = None
    ) -> None:
        self.token = token
        self.app = app
        self.deployments: list[Deployment] = []
        # (repository, full sha) -> check runs and statuses; names -> conclusion for any other commit.
        self.checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.default_checks: dict[str, str] = {}
        self.histories: dict[tuple[str, str, str], list[str]] = {}
        self.installation_tokens: dict[str, dict[str, Any]] = {}  # token -> installation, repositories, permissions
        self._lock = threading.Lock()
        self._server = LoopbackServer((host, port), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> LocalGitHubApi:
        self._server.serve_in_background("github-api")
        return self

    def stop(self) -> None:
        self._server.close()

    def record_checks(
        self, repository: str, sha: str, runs: dict[str, str], statuses: dict[str, str] | None = None
    ) -> None:
        """The commit's check runs (name -> conclusion, or `in_progress`/`queued`) and statuses (context -> state)."""
        with self._lock:
            self.checks[(repository, sha)] = [self._run(repository, sha, n, c) for n, c in runs.items()]
            self.statuses[(repository, sha)] = [
                {"context": context, "state": state, "target_url": f"{self.url}/{repository}/statuses/{context}"}
                for context, state in (statuses or {}).items()
            ]

    def comparison(self, repository: str, base: str, head: str) -> dict[str, Any]:
        """GitHub's compare of two commits, in its shape: the recorded history between them, else three commits
        made up from their SHAs (the stand-in knows no real history), oldest first as GitHub lists them."""
        with self._lock:
            recorded = self.histories.get((repository, base, head))
        messages = recorded or [f"change {n} between {base[:7]} and {head[:7]}" for n in (1, 2, 3)]
        commits = [
            {
                "sha": hashlib.sha1(f"{base}{head}{n}".encode()).hexdigest(),  # noqa: S324 - a made-up commit id
                "commit": {"message": message, "author": {"name": "Riley Release"}},
            }
            for n, message in enumerate(messages)
        ]
        return {
            "total_commits": len(commits),
            "commits": commits,
            "html_url": f"{self.url}/{repository}/compare/{base}...{head}",
        }

    def record_history(self, repository: str, base: str, head: str, messages: list[str]) -> None:
        """The commits from `base` to `head`, oldest first, as their messages."""
        with self._lock:
            self.histories[(repository, base, head)] = messages

    def forget_checks(self) -> None:
        with self._lock:
            self.checks.clear()
            self.statuses.clear()

    def _run(self, repository: str, sha: str, name: str, conclusion: str) -> dict[str, Any]:
        running = conclusion in {"queued", "in_progress"}
        run_id = abs(hash((repository, sha, name))) % 10**9
        return {
            "id": run_id,
            "name": name,
            "head_sha": sha,
            "status": conclusion if running else "completed",
            "conclusion": None if running else conclusion,
            "html_url": f"{self.url}/{repository}/actions/runs/{run_id}",
        }

    def _commit(self, repository: str, ref: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        """The recorded commit `ref` names (a full or short sha), else the default checks on `ref` itself."""
        with self._lock:
            for (repo, sha), runs in self.checks.items():
                if repo == repository and sha.startswith(ref):
                    return runs, self.statuses.get((repo, sha), []), sha
            return [self._run(repository, ref, n, c) for n, c in self.default_checks.items()], [], ref

    def _app_proved(self, authorization: str | None) -> str | None:
        """Why the app's JWT is refused, or None when it proves the app."""
        import jwt

        if self.app is None:
            return "no GitHub App is registered here"
        token = (authorization or "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(
                token, self.app.public_key_pem, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
            )
        except jwt.PyJWTError as refused:
            return f"A JSON web token could not be decoded: {refused}"
        if str(claims["iss"]) != self.app.app_id:
            return "'Issuer' claim ('iss') must be the app's id"
        if claims["exp"] - claims["iat"] > JWT_MAX_SECONDS:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def _installation_token(self, authorization: str | None, repository: str, permission: str) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            granted = self.installation_tokens.get(token)
        return (
            granted is not None
            and granted["expires"] > time.time()
            and repository.split("/", 1)[1] in granted["repositories"]
            and granted["permissions"].get(permission) in {"read", "write"}
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(JsonHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._answer(401, {"message": "Bad credentials"})
                    return False
                return True

            def _app_answer(self, path: str) -> bool:
                """The app's own endpoints and the checks it reads; False when the path is not one of them."""
                authorization = self.headers.get("Authorization")
                if match := _INSTALLATION.match(path):
                    refused = api._app_proved(authorization)
                    installation = api.app.installations.get(match[1]) if api.app else None
                    if refused:
                        self._answer(401, {"message": refused})
                    elif installation is None:
                        self._answer(404, {"message": "Not Found"})
                    else:
                        self._answer(200, {"id": installation, "app_id": api.app.app_id if api.app else ""})
                    return True
                for pattern, permission in ((_CHECK_RUNS, "checks"), (_COMBINED_STATUS, "statuses")):
                    if match := pattern.match(path):
                        if not api._installation_token(authorization, match[1], permission):
                            self._answer(401, {"message": "Bad credentials"})
                            return True
                        runs, statuses, sha = api._commit(match[1], match[2])
                        if pattern is _CHECK_RUNS:
                            self._answer(200, {"total_count": len(runs), "check_runs": runs})
                        else:
                            state = "success" if all(st["state"] == "success" for st in statuses) else "failure"
                            self._answer(200, {"sha": sha, "state": state, "statuses": statuses})
                        return True
                if match := _COMPARE.match(path):
                    if not api._installation_token(authorization, match[1], "contents"):
                        self._answer(401, {"message": "Bad credentials"})
                    else:
                        self._answer(200, api.comparison(match[1], match[2], match[3]))
                    return True
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                if self._app_answer(url.path):
                    return
                if not self._authorised():
                    return
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                if match := _DEPLOYMENTS.match(url.path):
                    with api._lock:
                        found = [
                            d.body()
                            for d in reversed(api.deployments)
                            if d.repository == match[1]
                            and query.get("sha", d.ref) == d.ref
                            and query.get("environment", d.environment) == d.environment
                        ]
                    self._answer(200, found)
                elif match := _STATUSES.match(url.path):
                    with api._lock:
                        deployment = next((d for d in api.deployments if d.id == int(match[2])), None)
                        self._answer(404, {"message": "Not Found"}) if deployment is None else self._answer(
                            200, list(reversed(deployment.statuses))
                        )
                else:
                    self._answer(404, {"message": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                path = urlsplit(self.path).path
                if match := _ACCESS_TOKENS.match(path):
                    self._grant(int(match[1]))
                    return
                if not self._authorised():
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)))
                except ValueError:
                    self._answer(400, {"message": "Problems parsing JSON"})
                    return
                if match := _DEPLOYMENTS.match(path):
                    if not isinstance(body.get("ref"), str) or not body["ref"]:
                        self._answer(422, {"message": "ref is required"})
                        return
                    with api._lock:
                        deployment = Deployment(
                            id=len(api.deployments) + 1,
                            repository=match[1],
                            ref=body["ref"],
                            environment=body.get("environment", "production"),
                            payload=body.get("payload") or {},
                            description=body.get("description", ""),
                            production_environment=bool(body.get("production_environment", False)),
                        )
                        api.deployments.append(deployment)
                    self._answer(201, deployment.body())
                elif match := _STATUSES.match(path):
                    if body.get("state") not in STATES:
                        self._answer(422, {"message": f"state must be one of {sorted(STATES)}"})
                        return
                    with api._lock:
                        found = next((d for d in api.deployments if d.id == int(match[2])), None)
                        if found is None:
                            self._answer(404, {"message": "Not Found"})
                            return
                        status = {
                            "id": len(found.statuses) + 1,
                            "state": body["state"],
                            "log_url": body.get("log_url", ""),
                            "environment_url": body.get("environment_url", ""),
                            "description": body.get("description", ""),
                            "created_at": datetime.now(UTC).isoformat(),
                        }
                        found.statuses.append(status)
                    self._answer(201, status)
                else:
                    self._answer(404, {"message": "Not Found"})

            def _grant(self, installation: int) -> None:
                """An installation token for the repositories and permissions asked (within the installation's)."""
                refused = api._app_proved(self.headers.get("Authorization"))
                if refused:
                    self._answer(401, {"message": refused})
                    return
                installed = list(api.app.installations) if api.app else []
                if installation not in (api.app.installations.values() if api.app else []):
                    self._answer(404, {"message": "Not Found"})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)) or b"{}")
                except ValueError:
                    self._answer(400, {"message": "Problems parsing JSON"})
                    return
                names = body.get("repositories") or [repo.split("/", 1)[1] for repo in installed]
                permissions = body.get("permissions") or {"checks": "read", "statuses": "read"}
                token = "ghs_" + secrets.token_hex(18)
                expires = time.time() + 3600
                with api._lock:
                    api.installation_tokens[token] = {
                        "installation": installation,
                        "repositories": names,
                        "permissions": permissions,
                        "expires": expires,
                    }
                at = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
                self._answer(201, {"token": token, "expires_at": at, "permissions": permissions})

        return Handler
