"""The sample site plays the production application and can be told to fail."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_fails_while_the_service_runs_an_image_marked_unhealthy(stack: Any) -> None:
    site = stack.site.url
    status, health = _call(f"{site}/health")
    assert status == 200
    try:
        assert _call(f"{site}/_sample/faults", "POST", {"unhealthy_image": health["image"]})[0] == 200
        assert _call(f"{site}/health")[0] == 503
    finally:
        assert _call(f"{site}/_sample/faults", "DELETE")[0] == 200
    assert _call(f"{site}/health")[0] == 200


def test_a_malformed_fault_is_refused(stack: Any) -> None:
    assert _call(f"{stack.site.url}/_sample/faults", "POST", {"image": "x"})[0] == 400


def test_the_api_check_refuses_anonymous_callers(stack: Any) -> None:
    assert _call(f"{stack.site.url}/api/me")[0] == 401
