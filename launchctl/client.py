"""A small HTTP client of the controller's API, shared by the CLI and the demo."""

from __future__ import annotations

import builtins
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

FINAL_STATUSES = {"SUCCEEDED", "ROLLED_BACK", "ROLLBACK_FAILED", "BLOCKED", "REJECTED", "EXPIRED", "ABORTED", "FAILED"}


class ApiError(Exception):
    """The API answered with an error; carries the status and the JSON error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", body)
        super().__init__(f"HTTP {status}: {error.get('message', error)}")
        self.status = status
        self.body = body


# A gateway's or a load balancer's word that the request did not get through (or not in time).
GATEWAY_ERRORS = {502, 503, 504}


class ControllerApi:
    """`credential` gives the Authorization header's value for each call (see launchctl.credentials).

    A connection error or a gateway's 502/503/504 is retried with backoff (`retries` times) before it
    is reported: always for reads and for calls that are safe to repeat (a start carries an
    Idempotency-Key), and for other writes only when the request cannot have reached the API."""

    def __init__(
        self,
        base_url: str,
        credential: Callable[[], str] | None = None,
        timeout: float = 15.0,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        repeatable: bool | None = None,
    ) -> dict[str, Any]:
        safe = method == "GET" if repeatable is None else repeatable
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                return self._send(method, path, body, headers)
            except ApiError as exc:
                # 502/503: the request did not reach the API; 504: it may have, so only a safe call repeats.
                if last or exc.status not in GATEWAY_ERRORS or (exc.status == 504 and not safe):
                    raise
            except ConnectionRefusedError:
                if last:
                    raise
            except OSError:  # reset, timed out, unreachable: the request may have been handled
                if last or not safe:
                    raise
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str] | None
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **({"Authorization": self.credential()} if self.credential else {}),
                **(headers or {}),
            },
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"error": {"message": raw.decode("utf-8", "replace")}}
            raise ApiError(exc.code, parsed) from None
        except urllib.error.URLError as exc:
            # urllib wraps the socket's error; the retry above tells them apart by kind.
            if isinstance(exc.reason, OSError):
                raise exc.reason from None
            raise

    def start(self, idempotency_key: str | None = None, **request: Any) -> dict[str, Any]:
        """Start a launch. It always carries an idempotency key (a new one unless given), so a retried or
        repeated call answers with the same launch instead of starting another."""
        key = idempotency_key or f"launchctl/{uuid.uuid4()}"
        return self._call("POST", "/launches", request, {"Idempotency-Key": key}, repeatable=True)

    def abort(self, launch_id: str, reason: str) -> dict[str, Any]:
        return self._call("POST", f"/launches/{launch_id}/abort", {"reason": reason})

    def preflight(
        self,
        environment: str,
        frontend_artifact: str | None = None,
        backend_image: str | None = None,
        git_sha: str | None = None,
    ) -> dict[str, Any]:
        """The checklist's checks against the environment now, without a launch."""
        query = {"frontend_artifact": frontend_artifact, "backend_image": backend_image, "git_sha": git_sha}
        encoded = urllib.parse.urlencode({k: v for k, v in query.items() if v})
        return self._call("GET", f"/environments/{environment}/preflight" + (f"?{encoded}" if encoded else ""))

    def rollback(self, launch_id: str, reason: str) -> dict[str, Any]:
        """Roll a launch that succeeded back out; answers with the rollback's own launch."""
        return self._call("POST", f"/launches/{launch_id}/rollback", {"reason": reason})

    def unlock(self, environment: str, reason: str) -> dict[str, Any]:
        return self._call("POST", f"/environments/{environment}/unlock", {"reason": reason})

    def whoami(self) -> dict[str, Any]:
        """The caller as the API verified this client's credential, and where they count."""
        return self._call("GET", "/me")

    def get(self, launch_id: str) -> dict[str, Any]:
        return self._call("GET", f"/launches/{launch_id}")

    def evidence(self, launch_id: str) -> dict[str, Any]:
        """The launch's whole record with its timeline's hash chain and seal, to check offline."""
        return self._call("GET", f"/launches/{launch_id}/evidence")

    def view_link(self, launch_id: str | None = None, environment: str | None = None) -> dict[str, Any]:
        """A signed, expiring link to a launch's page, or to an environment's list of launches."""
        if launch_id:
            return self._call("GET", f"/launches/{launch_id}/view-link")
        return self._call("GET", f"/environments/{environment}/view-link")

    def list(
        self, limit: int = 20, environment: str | None = None, status: str | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        query = {"limit": limit, "environment": environment, "status": status, "cursor": cursor}
        return self._call("GET", "/launches?" + urllib.parse.urlencode({k: v for k, v in query.items() if v}))

    def decide(
        self,
        launch_id: str,
        role: str,
        decision: str,
        comment: str = "",
        attestations: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """Decide as the person this client's credential proves."""
        body = {"role": role, "decision": decision, "comment": comment}
        return self._call("POST", f"/launches/{launch_id}/approvals", {**body, "attestations": attestations or []})

    def follow(
        self, launch_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 3600, interval: float = 0.3
    ) -> Iterator[tuple[dict[str, Any], builtins.list[dict[str, Any]]]]:
        """Yield (launch, timeline events not yet seen) until `until(launch)` holds or time runs out.

        A poll that fails even after its retries is skipped once: the next one decides."""
        seen = 0
        deadline = time.monotonic() + timeout
        failed_before = False
        while True:
            try:
                launch = self.get(launch_id)
            except (OSError, ApiError) as exc:
                transient = isinstance(exc, OSError) or exc.status in GATEWAY_ERRORS
                if failed_before or not transient or time.monotonic() > deadline:
                    raise
                failed_before = True
                time.sleep(interval)
                continue
            failed_before = False
            timeline = launch.get("timeline", [])
            yield launch, timeline[seen:]
            seen = len(timeline)
            if until(launch) or time.monotonic() > deadline:
                return
            time.sleep(interval)

    def wait(
        self, launch_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 3600, interval: float = 0.3
    ) -> dict[str, Any]:
        """The launch as it stands once `until(launch)` holds, or when time runs out."""
        launch: dict[str, Any] = {}
        for current, _ in self.follow(launch_id, until, timeout, interval):
            launch = current
        return launch


def is_final(launch: dict[str, Any]) -> bool:
    return launch["status"] in FINAL_STATUSES


def format_event(event: dict[str, Any]) -> str:
    """A timeline event as a terminal line; its message may carry someone's words, made inert there."""
    from chalicelib.domain.caller_text import for_terminal

    return f"  {event['at'][11:19]}  {(event.get('stage') or '-'):<15} {for_terminal(event['message'])}"
