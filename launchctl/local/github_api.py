"""A small stand-in for GitHub's REST API: the repository's deployments and their statuses, as the action
records a launch (POST/GET /repos/{owner}/{repo}/deployments, POST/GET .../deployments/{id}/statuses).

It checks what GitHub checks that matters here: the token, the JSON body, the fields' values."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from launchctl.local.servers import JsonHandler, LoopbackServer

STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
_DEPLOYMENTS = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/deployments$")
_STATUSES = re.compile(r"^/repos/([\w.-]+/[\w.-]+)/deployments/(\d+)/statuses$")


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


class LocalGitHubApi:
    """Serves the deployments API for the repositories, to callers with `token`."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.deployments: list[Deployment] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer((host, port), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> LocalGitHubApi:
        threading.Thread(target=self._server.serve_forever, name="github-api", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(JsonHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._answer(401, {"message": "Bad credentials"})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if not self._authorised():
                    return
                url = urlsplit(self.path)
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
                if not self._authorised():
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)))
                except ValueError:
                    self._answer(400, {"message": "Problems parsing JSON"})
                    return
                path = urlsplit(self.path).path
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
                        deployment = next((d for d in api.deployments if d.id == int(match[2])), None)
                        if deployment is None:
                            self._answer(404, {"message": "Not Found"})
                            return
                        status = {
                            "id": len(deployment.statuses) + 1,
                            "state": body["state"],
                            "log_url": body.get("log_url", ""),
                            "environment_url": body.get("environment_url", ""),
                            "description": body.get("description", ""),
                            "created_at": datetime.now(UTC).isoformat(),
                        }
                        deployment.statuses.append(status)
                    self._answer(201, status)
                else:
                    self._answer(404, {"message": "Not Found"})

        return Handler
