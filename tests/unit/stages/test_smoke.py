"""Smoke checks against a real local HTTP server and WebSocket echo."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.domain.errors import SmokeTestFailed
from chalicelib.domain.models import Launch
from chalicelib.domain.profiles import EnvironmentProfile, SmokeCheck
from chalicelib.domain.progress import SmokeProgress
from chalicelib.stages.smoke import check_http, check_websocket, run_smoke

ANSWERS = {"/health": (200, b"ok"), "/": (200, b"<html>home</html>"), "/broken": (503, b"down")}
TOKEN = "smoke-user-token"


@pytest.fixture
def site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return

        def do_GET(self) -> None:
            status, body = ANSWERS.get(self.path, (404, b"no"))
            if self.path == "/api/me":
                signed_in = self.headers.get("Authorization") == f"Bearer {TOKEN}"
                status, body = (200, b'{"user": "smoke"}') if signed_in else (401, b"sign in")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if self.path == "/":
                self.send_header("X-Frame-Options", "DENY")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def echo() -> Iterator[str]:
    from websockets.sync.server import serve

    def handler(connection: Any) -> None:
        for message in connection:
            connection.send(message)

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ws"
    server.shutdown()


def test_an_expected_answer_passes_with_its_latency(site: str) -> None:
    result = check_http(site, SmokeCheck(name="health", path="/health"), timeout=2, attempts=1)
    assert result.passed
    assert result.latency_ms >= 0


def test_a_wrong_status_fails_after_every_attempt(site: str) -> None:
    result = check_http(site, SmokeCheck(name="broken", path="/broken"), timeout=2, attempts=2)
    assert not result.passed
    assert result.detail == "status 503, expected 200"
    assert result.attempts == 2


def test_missing_content_fails(site: str) -> None:
    check = SmokeCheck(name="home", path="/", expect_text="Dashboard")
    assert "lacks 'Dashboard'" in check_http(site, check, timeout=2, attempts=1).detail


def test_a_missing_security_header_fails_and_names_it(site: str) -> None:
    framed = SmokeCheck(name="home", path="/", expect_headers=["x-frame-options"])
    assert check_http(site, framed, timeout=2, attempts=1).passed
    strict = SmokeCheck(name="home", path="/", expect_headers=["X-Frame-Options", "Strict-Transport-Security"])
    result = check_http(site, strict, timeout=2, attempts=1)
    assert not result.passed
    assert result.detail == "status 200 but the answer lacks the headers Strict-Transport-Security"


def test_no_server_fails_without_raising() -> None:
    result = check_http("http://127.0.0.1:9", SmokeCheck(name="health", path="/health"), timeout=0.5, attempts=1)
    assert not result.passed
    assert result.detail.startswith("no answer")


def test_websocket_echo_passes(echo: str) -> None:
    assert check_websocket(echo, timeout=2, attempts=1).passed


def test_websocket_without_a_server_fails() -> None:
    assert not check_websocket("ws://127.0.0.1:9/ws", timeout=0.5, attempts=1).passed


def test_run_smoke_runs_every_check_then_raises_with_them_all(
    site: str, echo: str, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    smoke = profile.smoke.model_copy(
        update={
            "base_url": site,
            "websocket_url": echo,
            "attempts": 1,
            "credential_secret_id": None,
            "checks": [SmokeCheck(name="health", path="/health"), SmokeCheck(name="broken", path="/broken")],
        }
    )
    with pytest.raises(SmokeTestFailed, match="broken: status 503") as failed:
        run_smoke(store, launch, profile.model_copy(update={"smoke": smoke}), None)
    kept = failed.value.progress  # what the harness keeps with the failure
    assert isinstance(kept, SmokeProgress)
    assert [(check.name, check.passed) for check in kept.checks] == [
        ("health", True),
        ("broken", False),
        ("websocket", True),
    ]


def _signed_in(
    profile: EnvironmentProfile, site: str, aws: Any, secret: str, checks: list[SmokeCheck]
) -> EnvironmentProfile:
    """The profile's smoke stage pointed at the test site, its credential stored in Secrets Manager."""
    aws("secretsmanager").create_secret(Name="smoke/credential", SecretString=secret)
    smoke = profile.smoke.model_copy(
        update={
            "base_url": site,
            "websocket_url": None,
            "attempts": 1,
            "credential_secret_id": "smoke/credential",
            "checks": checks,
        }
    )
    return profile.model_copy(update={"smoke": smoke})


@pytest.mark.parametrize("secret", [TOKEN, json.dumps({"token": TOKEN, "user": "smoke@acme.example"})])
def test_authentication_is_refused_without_and_granted_with_the_credential_from_secrets_manager(
    site: str, aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile, secret: str
) -> None:
    checks = [
        SmokeCheck(name="authentication", path="/api/me", expect_status=401),
        SmokeCheck(name="authenticated", path="/api/me", expect_status=200, authenticated=True),
    ]
    report = run_smoke(store, launch, _signed_in(profile, site, aws, secret, checks), aws("secretsmanager"))
    assert [(check.name, check.passed) for check in report.checks] == [
        ("authentication", True),
        ("authenticated", True),
    ]


def test_a_wrong_credential_fails_the_authenticated_check(
    site: str, aws: Any, store: Any, launch: Launch, profile: EnvironmentProfile
) -> None:
    checks = [SmokeCheck(name="authenticated", path="/api/me", expect_status=200, authenticated=True)]
    with pytest.raises(SmokeTestFailed, match="authenticated: status 401"):
        run_smoke(store, launch, _signed_in(profile, site, aws, "expired-token", checks), aws("secretsmanager"))
